'use strict';

// The replica's edge runtime: runs, under node, the deployment's own edge
// code as CloudFront runs it. Arguments: the CloudFront Function's code (a
// file holding the template's FunctionCode) and the Lambda@Edge function's
// code folder. It reads one JSON request per line on stdin,
// {"id": N, "kind": "viewer-request" | "origin-request", "event": {...}},
// and answers each on stdout with {"id": N, "result": ...} or
// {"id": N, "error": "..."}.
//
// The CloudFront Function runs as CloudFront Functions do: a script in
// strict mode with no module system, in a context holding only the
// language's own objects. The Lambda@Edge function is required as Lambda
// loads a Node.js handler.

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const vm = require('node:vm');

const [functionFile, edgeDir, edgeHandler] = process.argv.slice(2);

const context = vm.createContext({});
vm.runInContext('"use strict";\n' + fs.readFileSync(functionFile, 'utf8'), context, { filename: 'cloudfront-function.js' });
if (typeof context.handler !== 'function') {
  throw new Error('the CloudFront Function defines no handler');
}
const [moduleName, exportName] = (edgeHandler || 'index.handler').split('.');
const edge = require(path.resolve(edgeDir, moduleName))[exportName];

const out = (v) => process.stdout.write(JSON.stringify(v) + '\n');

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, kind, event } = JSON.parse(line);
  try {
    let result;
    if (kind === 'viewer-request') {
      // Copied out of the function's realm into plain JSON.
      result = JSON.parse(JSON.stringify(context.handler(event)));
    } else {
      result = await edge(event);
    }
    out({ id, result });
  } catch (err) {
    out({ id, error: String(err && err.stack || err) });
  }
});
