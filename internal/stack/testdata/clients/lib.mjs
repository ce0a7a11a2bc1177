// Shared by the client scripts that internal/stack's client tests run
// (see README.md): each script reads one JSON scenario, drives an official
// client library against the gateway, and prints one JSON result.

// base is the gateway's base URL, which the Go test sets.
export const base = process.env.AGENTGATE_URL;

// scenario is the JSON the Go test passed as the script's one argument.
export const scenario = JSON.parse(process.argv[2] ?? '{}');

// url resolves a gateway path against base.
export function url(path) {
  return new URL(path, base).toString();
}

// recordingFetch is fetch that notes each exchange (method, path, status,
// and the headers a test may ask about) in exchanges.
export function recordingFetch(exchanges, headers = []) {
  return async (input, init = {}) => {
    const res = await fetch(input, init);
    const u = new URL(typeof input === 'string' ? input : input.url);
    const seen = {};
    for (const h of headers) seen[h] = res.headers.get(h);
    exchanges.push({ method: init.method ?? 'GET', path: u.pathname, status: res.status, headers: seen });
    return res;
  };
}

// main runs fn and prints what it returns as JSON on stdout; a failure
// goes to stderr with a non-zero exit status, which fails the Go test.
export function main(fn) {
  fn(scenario).then(
    result => process.stdout.write(JSON.stringify(result) + '\n'),
    err => {
      process.stderr.write((err?.stack ?? String(err)) + '\n');
      process.exit(1);
    },
  );
}
