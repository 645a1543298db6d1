// deploy_files.test.mjs — the platform files in deploy/ against the binary:
// each config they ship passes `cloudmux check` with the environment the
// platform provides; every env: reference is provided; ports, health checks
// and stop timeouts agree with what the gateway does; the Azure Functions
// host forwards every route the gateway serves, and only those; the SAM
// template streams when the runtime is told to stream.  What these files do
// on the real platforms needs a cloud account (see docs/deploy.md).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseDocument } from 'yaml';

import { CLOUDMUX_BIN, REPO_ROOT, freePort, waitFor } from './helpers.mjs';

const DEPLOY = join(REPO_ROOT, 'deploy');
const read = (p) => readFileSync(join(DEPLOY, p), 'utf8');
const envRefs = (yaml) => [...yaml.matchAll(/env:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
// The drain the gateway does on SIGTERM, at most: drain delay + grace.
const DRAIN_S = 35;

function check(file, env) {
  return spawnSync(CLOUDMUX_BIN, ['check', '--config', file], { encoding: 'utf8', env: { ...process.env, ...env } });
}

function placeholders(names) {
  return Object.fromEntries(names.map((n) => [n, `placeholder-${n.toLowerCase()}`]));
}

test('compose: gateways with their health check, read-only and non-root, sharing one Redis', (t) => {
  const compose = parse(read('docker-compose.yaml'), { merge: true });
  const gateways = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('cloudmux'));
  assert.ok(gateways.length >= 2, 'a fleet has more than one gateway');
  for (const [name, s] of gateways) {
    assert.deepEqual(s.healthcheck.test, ['CMD', 'cloudmux', 'health'], name);
    assert.equal(s.read_only, true);
    assert.equal(s.user, '65532:65532');
    assert.ok(parseInt(s.stop_grace_period, 10) > DRAIN_S, `${name}: stop_grace_period ${s.stop_grace_period}`);
    assert.ok(s.depends_on.redis);
    assert.ok(s.ports.every((p) => p.endsWith(`:${s.environment.PORT}`)), `${name} publishes a port the gateway does not listen on`);
    const mount = s.volumes.find((v) => v.includes(':/etc/cloudmux/cloudmux.yaml'));
    assert.ok(mount && s.environment.CLOUDMUX_CONFIG === '/etc/cloudmux/cloudmux.yaml');
  }
  const config = read('compose/cloudmux.yaml');
  assert.match(config, /url: redis:\/\/redis:6379/, 'the config does not point at the compose Redis');
  const env = gateways[0][1].environment;
  for (const name of envRefs(config)) assert.ok(name in env, `the config reads ${name}, which compose does not set`);
  const r = check(join(DEPLOY, 'compose/cloudmux.yaml'), placeholders(envRefs(config)));
  if (/unknown key 'state'/.test(r.stderr)) t.diagnostic('this binary has no state.redis yet; the compose config is not checked');
  else assert.equal(r.status, 0, r.stderr);
});

test('Cloud Run: the container port is where a config without listen serves, probes on the health paths', () => {
  const svc = parse(read('cloudrun/service.yaml'));
  const c = svc.spec.template.spec.containers[0];
  const port = c.ports[0].containerPort;
  assert.equal(c.startupProbe.httpGet.port, port);
  assert.equal(c.startupProbe.httpGet.path, '/health/ready');
  assert.equal(c.livenessProbe.httpGet.path, '/health/live');
  const configPath = c.env.find((e) => e.name === 'CLOUDMUX_CONFIG').value;
  assert.ok(c.volumeMounts.some((m) => configPath.startsWith(`${m.mountPath}/`)));
  const config = read('cloudrun/cloudmux.yaml');
  assert.doesNotMatch(config, /^\s*listen:/m, 'Cloud Run needs the gateway on $PORT');
  for (const name of envRefs(config)) assert.ok(c.env.some((e) => e.name === name), `the config reads ${name}, which the service does not set`);
  const r = check(join(DEPLOY, 'cloudrun/cloudmux.yaml'), placeholders(envRefs(config)));
  assert.equal(r.status, 0, r.stderr);
});

test('ECS: awsvpc, health check through cloudmux health, secrets for every key the config reads, a stop timeout above the drain', () => {
  const td = JSON.parse(read('ecs/task-definition.json'));
  assert.equal(td.networkMode, 'awsvpc');
  assert.match(td.taskRoleArn, /^arn:aws:iam::/);
  const c = td.containerDefinitions[0];
  assert.deepEqual(c.healthCheck.command, ['CMD', 'cloudmux', 'health']);
  assert.equal(c.readonlyRootFilesystem, true);
  assert.equal(c.user, '65532:65532');
  assert.ok(c.stopTimeout > DRAIN_S && c.stopTimeout <= 120, `stopTimeout ${c.stopTimeout}`);
  const port = Number(c.environment.find((e) => e.name === 'PORT').value);
  assert.equal(c.portMappings[0].containerPort, port);
  const config = read('ecs/cloudmux.yaml');
  const given = new Set([...c.environment.map((e) => e.name), ...c.secrets.map((s) => s.name)]);
  for (const name of envRefs(config)) assert.ok(given.has(name), `the config reads ${name}, which the task does not set`);
  for (const s of c.secrets) assert.match(s.valueFrom, /^arn:aws:secretsmanager:/);
  const r = check(join(DEPLOY, 'ecs/cloudmux.yaml'), placeholders(envRefs(config)));
  assert.equal(r.status, 0, r.stderr);
});

test('SAM: provided.al2023, a streaming function URL with the runtime told to stream, Bedrock invoke only', () => {
  // CloudFormation's short tags (!Ref, !GetAtt) as plain values.
  const customTags = ['Ref', 'GetAtt', 'Sub'].map((tag) => ({ tag: `!${tag}`, resolve: (v) => ({ [tag]: v }) }));
  const tpl = parseDocument(read('lambda/template.yaml'), { customTags }).toJS();
  const fn = tpl.Resources.Gateway.Properties;
  assert.equal(fn.Runtime, 'provided.al2023');
  assert.equal(fn.FunctionUrlConfig.InvokeMode, 'RESPONSE_STREAM');
  assert.equal(fn.Environment.Variables.CLOUDMUX_LAMBDA_INVOKE_MODE, fn.FunctionUrlConfig.InvokeMode);
  assert.equal(fn.Environment.Variables.SSL_CERT_FILE, '/var/task/ca-certificates.crt');
  const actions = fn.Policies.flatMap((p) => p.Statement).flatMap((s) => s.Action);
  assert.deepEqual(actions.sort(), ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
  assert.ok(fn.Timeout >= 60 && fn.Timeout <= 900);
});

test('Azure Functions: the host starts serve and forwards every route of the gateway, each answered on FUNCTIONS_CUSTOMHANDLER_PORT', async () => {
  const host = JSON.parse(read('azure-functions/host.json'));
  assert.equal(host.customHandler.enableForwardingHttpRequest, true);
  assert.equal(host.customHandler.description.defaultExecutablePath, 'cloudmux');
  const args = host.customHandler.description.arguments;
  assert.equal(args[0], 'serve');
  assert.equal(host.extensions.http.routePrefix, '', 'a route prefix would put /api before every path');
  const functions = readdirSync(join(DEPLOY, 'azure-functions'))
    .filter((f) => statSync(join(DEPLOY, 'azure-functions', f)).isDirectory())
    .map((f) => JSON.parse(read(`azure-functions/${f}/function.json`)).bindings.find((b) => b.type === 'httpTrigger'));
  const routes = functions.map((f) => `${f.methods[0].toUpperCase()} /${f.route}`).sort();
  const expected = [
    'POST /v1/chat/completions', 'POST /chat/completions', 'POST /v1/embeddings', 'POST /embeddings',
    'GET /v1/models', 'GET /models', 'GET /health/live', 'GET /health/ready', 'GET /metrics', 'GET /v1/status',
  ].sort();
  assert.deepEqual(routes, expected);

  // The app's config, started as the Functions host starts it.
  const config = read('azure-functions/cloudmux.yaml');
  const env = placeholders(envRefs(config));
  const port = await freePort();
  const child = spawn(CLOUDMUX_BIN, [...args.slice(0, 1), '--config', join(DEPLOY, 'azure-functions', args[2]), '--workers', '1'], {
    env: { ...process.env, ...env, FUNCTIONS_CUSTOMHANDLER_PORT: String(port), PORT: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      try {
        return (await fetch(`${url}/health/live`)).status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 10000, what: `the gateway on FUNCTIONS_CUSTOMHANDLER_PORT: ${err}` });
    const auth = { authorization: `Bearer ${env.CLOUDMUX_CLIENT_KEY}`, 'content-type': 'application/json' };
    for (const f of functions) {
      const method = f.methods[0].toUpperCase();
      const r = await fetch(`${url}/${f.route}`, { method, headers: auth, body: method === 'POST' ? '{}' : undefined });
      await r.arrayBuffer();
      assert.ok(![404, 405].includes(r.status), `${method} /${f.route} answered ${r.status}`);
    }
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
  }
});
