'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { handler } = require('./index.js');

// event builds an origin-request event as CloudFront sends it with
// includeBody: true.
function event(method, body) {
  const request = {
    clientIp: '203.0.113.7',
    method,
    uri: '/',
    querystring: '',
    headers: {
      host: [{ key: 'Host', value: 'abc.lambda-url.eu-west-1.on.aws' }],
      'content-type': [{ key: 'Content-Type', value: 'application/json' }],
    },
  };
  if (body !== undefined) {
    request.body = body;
  }
  return { Records: [{ cf: { config: { eventType: 'origin-request', requestId: 'req-1' }, request } }] };
}

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const prompt = '{"prompt":"Grüße, agent!"}';

test('a base64 body is hashed after decoding', async () => {
  const got = await handler(event('POST', {
    inputTruncated: false, action: 'read-only', encoding: 'base64',
    data: Buffer.from(prompt).toString('base64'),
  }));
  assert.deepEqual(got.headers['x-amz-content-sha256'], [{ key: 'x-amz-content-sha256', value: sha256(prompt) }]);
  assert.equal(got.method, 'POST');
  assert.equal(got.headers.host[0].value, 'abc.lambda-url.eu-west-1.on.aws');
});

test('a text body is hashed as UTF-8', async () => {
  const got = await handler(event('PUT', { inputTruncated: false, action: 'read-only', encoding: 'text', data: prompt }));
  assert.equal(got.headers['x-amz-content-sha256'][0].value, sha256(prompt));
});

test('a request without a body carries the hash of the empty payload', async () => {
  for (const body of [undefined, { inputTruncated: false, action: 'read-only', encoding: 'base64', data: '' }]) {
    const got = await handler(event('DELETE', body));
    assert.equal(got.headers['x-amz-content-sha256'][0].value,
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  }
});

test('a truncated body is refused with 413, not signed in part', async () => {
  const got = await handler(event('POST', {
    inputTruncated: true, action: 'read-only', encoding: 'base64',
    data: Buffer.alloc(1024 * 1024, 'a').toString('base64'),
  }));
  assert.equal(got.status, '413');
  assert.equal(got.headers['content-type'][0].value, 'application/json');
  assert.equal(got.headers['x-amz-content-sha256'], undefined);
  const { error } = JSON.parse(got.body);
  assert.equal(error.code, 'body_too_large');
  assert.equal(error.requestId, 'req-1');
  assert.match(error.message, /1 MB/);
});

test('GET and HEAD pass untouched', async () => {
  for (const method of ['GET', 'HEAD']) {
    const ev = event(method);
    const before = structuredClone(ev.Records[0].cf.request);
    const got = await handler(ev);
    assert.deepEqual(got, before);
  }
});
