// CloudFront Function (runtime cloudfront-js-2.0) on viewer request: carries
// the viewer's Authorization header to the gateway as
// X-Agentgate-Authorization.
//
// Origin Access Control signs every request to the gateway's function URL by
// writing its own SigV4 Authorization over the viewer's, and CloudFront
// forwards a viewer's Authorization only through a cache policy, which a
// behavior with caching disabled cannot have. Without this function a bearer
// token (OIDC/JWT, a login token) or HTTP Basic credentials never reach the
// gateway. The origin request policy forwards X-Agentgate-Authorization, and
// the gateway reads it only from a sender it trusts: the function URL's IAM
// auth, or the origin lock.
//
// A viewer that sends no Authorization has any X-Agentgate-Authorization of
// its own removed, and one that sends both has its copy replaced: what the
// gateway reads is always the edge's copy of the viewer's Authorization, or
// nothing. A repeated Authorization header counts by its first value, as Go's
// net/http reads it.
//
// It also packs the browser's fetch metadata and CORS preflight headers
// into one, X-Agentgate-Fetch, as a URL-encoded form: an origin request
// policy forwards at most ten headers, and these four would take four of
// them. A viewer's own X-Agentgate-Fetch is always replaced or removed.
//
// CloudFront Functions have no module system (the runtime calls the
// top-level handler), no timers, file system or network, and run in strict
// mode; header names in the event are lower case, and a header's first value
// is in value, all of a repeated one's in multiValue.

var COPY = 'x-agentgate-authorization';
var FETCH = 'x-agentgate-fetch';
var FETCH_HEADERS = ['sec-fetch-site', 'sec-fetch-mode', 'access-control-request-method', 'access-control-request-headers'];

function handler(event) {
  var request = event.request;
  var headers = request.headers;
  var authorization = headers.authorization;
  if (authorization && authorization.value) {
    headers[COPY] = { value: authorization.value };
  } else {
    delete headers[COPY];
  }
  var packed = [];
  for (var i = 0; i < FETCH_HEADERS.length; i++) {
    var h = headers[FETCH_HEADERS[i]];
    if (h && h.value) {
      packed.push(FETCH_HEADERS[i] + '=' + encodeURIComponent(h.value));
    }
  }
  if (packed.length > 0) {
    headers[FETCH] = { value: packed.join('&') };
  } else {
    delete headers[FETCH];
  }
  return request;
}
