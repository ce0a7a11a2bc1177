'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

// The file CloudFront runs, read as CloudFront does: a script with no module
// system, in strict mode, in a context that holds nothing but the language's
// own objects (no require, module, process or Buffer).
const source = fs.readFileSync(path.join(__dirname, 'viewer-request.js'), 'utf8');

function load() {
  const context = vm.createContext({});
  vm.runInContext('"use strict";\n' + source, context, { filename: 'viewer-request.js' });
  assert.equal(typeof context.handler, 'function', 'the file defines no top-level handler');
  return context.handler;
}

const handler = load();

// plain copies what the function made into this realm's objects: the
// function builds its own in the vm context, whose prototypes are not ours.
const plain = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));

// event builds a viewer-request event as CloudFront Functions passes it.
function event(headers) {
  return {
    version: '1.0',
    context: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'EDFDVBD6EXAMPLE', eventType: 'viewer-request', requestId: 'req-1' },
    viewer: { ip: '203.0.113.7' },
    request: {
      method: 'POST',
      uri: '/agents/demo/invocations',
      querystring: { response: { value: 'transformed' } },
      headers: Object.assign({ host: { value: 'd111111abcdef8.cloudfront.net' }, 'content-type': { value: 'application/json' } }, headers),
      cookies: { agentgate_session: { value: 'agt1.cookie' } },
    },
  };
}

const bearer = 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln';

test('a bearer token is copied into X-Agentgate-Authorization', () => {
  const got = handler(event({ authorization: { value: bearer } }));
  assert.deepEqual(plain(got.headers['x-agentgate-authorization']), { value: bearer });
  assert.deepEqual(got.headers.authorization, { value: bearer }, 'Authorization itself is left to OAC');
});

test('Basic credentials are copied the same way', () => {
  const basic = 'Basic ' + Buffer.from('ada:correct horse').toString('base64');
  const got = handler(event({ authorization: { value: basic } }));
  assert.equal(got.headers['x-agentgate-authorization'].value, basic);
});

test('a viewer that sends no Authorization cannot send the copy itself', () => {
  for (const injected of [
    { value: 'Bearer forged' },
    { value: 'Bearer forged', multiValue: [{ value: 'Bearer forged' }, { value: 'Basic Zm9yZ2Vk' }] },
  ]) {
    const got = handler(event({ 'x-agentgate-authorization': injected }));
    assert.equal('x-agentgate-authorization' in got.headers, false, JSON.stringify(got.headers));
    assert.equal(got.headers.authorization, undefined);
  }
});

test('an empty Authorization counts as none, and removes a viewer-sent copy', () => {
  const got = handler(event({ authorization: { value: '' }, 'x-agentgate-authorization': { value: 'Bearer forged' } }));
  assert.equal('x-agentgate-authorization' in got.headers, false);
});

test("a viewer-sent copy is replaced by the viewer's Authorization, repeated values and all", () => {
  const got = handler(event({
    authorization: { value: bearer },
    'x-agentgate-authorization': { value: 'Bearer forged', multiValue: [{ value: 'Bearer forged' }, { value: 'Bearer other' }] },
  }));
  assert.deepEqual(plain(got.headers['x-agentgate-authorization']), { value: bearer });
});

test('a repeated Authorization header is carried by its first value alone', () => {
  const got = handler(event({ authorization: { value: bearer, multiValue: [{ value: bearer }, { value: 'Basic Zm9vOmJhcg==' }] } }));
  assert.deepEqual(plain(got.headers['x-agentgate-authorization']), { value: bearer });
});

test('the rest of the request passes untouched', () => {
  const ev = event({ authorization: { value: bearer }, 'x-api-key': { value: 'agk_x' } });
  const before = JSON.parse(JSON.stringify(ev.request));
  const got = handler(ev);
  assert.equal(got, ev.request, 'the function returns the request it was given');
  delete got.headers['x-agentgate-authorization'];
  delete got.headers['x-agentgate-fetch'];
  assert.deepEqual(got, before);
});

test("the browser's fetch metadata and preflight headers are packed into X-Agentgate-Fetch", () => {
  const got = handler(event({
    'sec-fetch-site': { value: 'same-origin' },
    'sec-fetch-mode': { value: 'cors' },
    'access-control-request-method': { value: 'POST' },
    'access-control-request-headers': { value: 'content-type, x-api-key' },
  }));
  const packed = new URLSearchParams(got.headers['x-agentgate-fetch'].value);
  assert.deepEqual(Object.fromEntries(packed), {
    'sec-fetch-site': 'same-origin',
    'sec-fetch-mode': 'cors',
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'content-type, x-api-key',
  });
});

test('a viewer cannot send X-Agentgate-Fetch itself', () => {
  let got = handler(event({ 'x-agentgate-fetch': { value: 'sec-fetch-site=same-origin' } }));
  assert.equal('x-agentgate-fetch' in got.headers, false, 'with nothing to pack, a viewer-sent one is removed');
  got = handler(event({ 'x-agentgate-fetch': { value: 'sec-fetch-site=same-origin' }, 'sec-fetch-site': { value: 'cross-site' } }));
  assert.equal(got.headers['x-agentgate-fetch'].value, 'sec-fetch-site=cross-site', "a viewer-sent one is replaced by the edge's");
});
