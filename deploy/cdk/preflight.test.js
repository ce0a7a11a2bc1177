'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { nodeProblem, settingsFile, settingsProblem } = require('./preflight.js');

test('Node.js before 22 is refused, 22 and later pass', () => {
  assert.match(nodeProblem('v20.20.2'), /Node\.js 22 or newer/);
  assert.match(nodeProblem('v18.0.0'), /v18\.0\.0/);
  assert.strictEqual(nodeProblem('v22.0.0'), '');
  assert.strictEqual(nodeProblem('v24.3.1'), '');
});

test('the settings file is read from every way the CLI takes context', () => {
  assert.strictEqual(settingsFile(['deploy', '--all', '-c', 'settings=a.yaml']), 'a.yaml');
  assert.strictEqual(settingsFile(['deploy', '--context', 'settings=b.yaml']), 'b.yaml');
  assert.strictEqual(settingsFile(['deploy', '-c=settings=c.yaml']), 'c.yaml');
  assert.strictEqual(settingsFile(['deploy', '--context=settings=d.yaml']), 'd.yaml');
  assert.strictEqual(settingsFile(['deploy', '-c', 'other=x', '--all']), '');
  assert.strictEqual(settingsFile(['deploy', '--all']), '');
});

test('no settings, the example or a missing file are refused saying how to give one', () => {
  for (const args of [['deploy', '--all'], ['deploy', '-c', 'settings=settings.example.yaml'], ['deploy', '-c', 'settings=nope.yaml']]) {
    const problem = settingsProblem(args, __dirname);
    assert.match(problem, /-c settings=settings\.yaml/, args.join(' '));
    assert.match(problem, /settings\.example\.yaml/, args.join(' '));
  }
  assert.strictEqual(settingsProblem(['deploy', '-c', 'settings=cdk.json'], __dirname), '');
});

test('npm run deploy without settings exits non-zero before the CDK CLI runs', () => {
  const run = spawnSync(process.execPath, [path.join(__dirname, 'preflight.js'), 'deploy', '--all'], { encoding: 'utf8' });
  assert.notStrictEqual(run.status, 0);
  assert.match(run.stderr, /agentgate deploy:/);
});
