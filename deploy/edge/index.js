'use strict';

// Lambda@Edge origin-request handler that signs request bodies for CloudFront's
// Origin Access Control (OAC).
//
// OAC signs every request to the gateway's Lambda function URL with SigV4,
// but Lambda accepts no unsigned payloads: a POST or PUT must carry the hex
// SHA-256 of its body in x-amz-content-sha256, and CloudFront does not compute
// it. This function does, from the body CloudFront exposes to it
// (includeBody: true on the association).
//
// CloudFront exposes at most 1 MB of a body; a longer one arrives with
// inputTruncated set. Signing that prefix would get the request refused at the
// origin with a puzzling 403, so it is refused here, with 413 in the gateway's
// own error shape. GET and HEAD carry no body and pass untouched: OAC signs
// them on its own.
//
// Node.js with no dependencies: Lambda@Edge runs only Node.js and Python, and
// takes no environment variables.

const crypto = require('node:crypto');

const HASH_HEADER = 'x-amz-content-sha256';

exports.handler = async (event) => {
  const { request, config } = event.Records[0].cf;
  if (request.method === 'GET' || request.method === 'HEAD') {
    return request;
  }
  const body = request.body;
  if (body && body.inputTruncated) {
    return tooLarge(config && config.requestId);
  }
  request.headers[HASH_HEADER] = [{ key: HASH_HEADER, value: sha256Hex(bodyBytes(body)) }];
  return request;
};

// bodyBytes returns the body as CloudFront sent it: base64 unless the
// association asked for text. A request without a body hashes as empty.
function bodyBytes(body) {
  if (!body || !body.data) {
    return Buffer.alloc(0);
  }
  return Buffer.from(body.data, body.encoding === 'text' ? 'utf8' : 'base64');
}

function sha256Hex(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

function tooLarge(requestId) {
  const error = {
    code: 'body_too_large',
    message: 'the request body is larger than the 1 MB the edge can sign',
  };
  if (requestId) {
    error.requestId = requestId;
  }
  return {
    status: '413',
    statusDescription: 'Payload Too Large',
    headers: {
      'content-type': [{ key: 'Content-Type', value: 'application/json' }],
      'cache-control': [{ key: 'Cache-Control', value: 'no-store' }],
    },
    body: JSON.stringify({ error }),
  };
}
