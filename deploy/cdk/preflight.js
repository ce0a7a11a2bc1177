'use strict';

// Preflight for `npm run deploy` and `npm run destroy`: checks what the CDK
// CLI would not, then runs it with the same arguments.
//
//   npm run deploy -- -c settings=settings.yaml
//
// - Node.js 22 or newer (package.json "engines"; npm itself only warns): 20
//   is past its end of life, and the CLI and jsii warn or fail on it.
// - A settings file named with -c settings=FILE. cdk.json names
//   settings.example.yaml so that `cdk synth` works from a fresh clone, but
//   the example's API key and agent ARN are placeholders: deploying them
//   would bring up a gateway nobody can use.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const MIN_NODE_MAJOR = 22;
const EXAMPLE = 'settings.example.yaml';

// nodeProblem returns why this Node.js version cannot deploy, or ''.
function nodeProblem(version) {
  const major = Number(String(version).replace(/^v/, '').split('.')[0]);
  if (!Number.isInteger(major) || major < MIN_NODE_MAJOR) {
    return `Node.js ${MIN_NODE_MAJOR} or newer is needed to deploy; this is ${version}.`;
  }
  return '';
}

// settingsFile returns the FILE of a `-c settings=FILE` (or --context, or
// with =) among the CLI arguments, or '' when there is none.
function settingsFile(args) {
  for (let i = 0; i < args.length; i++) {
    let value;
    const a = args[i];
    if (a === '-c' || a === '--context') {
      value = args[i + 1];
      i++;
    } else if (a.startsWith('-c=') || a.startsWith('--context=')) {
      value = a.slice(a.indexOf('=') + 1);
    }
    if (value && value.startsWith('settings=')) {
      return value.slice('settings='.length);
    }
  }
  return '';
}

const HOW =
  'Copy settings.example.yaml to settings.yaml (git-ignored), edit it (docs/deploy.md, step 1), and give it:\n' +
  '  npm run deploy -- -c settings=settings.yaml';

// settingsProblem returns why the arguments name no usable settings file,
// relative to dir, or ''.
function settingsProblem(args, dir) {
  const file = settingsFile(args);
  if (file === '') {
    return `No settings file given.\n${HOW}`;
  }
  if (path.basename(file) === EXAMPLE) {
    return `${file} is the example: its API key and agent are placeholders.\n${HOW}`;
  }
  if (!fs.existsSync(path.resolve(dir, file))) {
    return `The settings file ${file} does not exist.\n${HOW}`;
  }
  return '';
}

function main(args) {
  const problem = nodeProblem(process.version) || settingsProblem(args, __dirname);
  if (problem) {
    console.error(`agentgate deploy: ${problem}`);
    return 2;
  }
  const cdk = require.resolve('aws-cdk/bin/cdk', { paths: [__dirname] });
  const run = spawnSync(process.execPath, [cdk, ...args], { stdio: 'inherit', cwd: __dirname });
  if (run.error) {
    console.error(`agentgate deploy: ${run.error.message}`);
    return 1;
  }
  return run.status === null ? 1 : run.status;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}

module.exports = { nodeProblem, settingsFile, settingsProblem };
