// ledger.test.mjs — the spend ledger under load: 1,000 concurrent requests
// (whole answers, streams and streams cut by the provider) give exactly
// 1,000 rows, one per request id, and a report whose totals equal what the
// test computes itself from the answers; `kill -9` under load loses at most
// the last batch window and the database opens clean after; per-request
// audit records carry metadata, never content.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { ADMIN_KEY, admin, cli, eventually, sqlite, stateDir } from './governance_helpers.mjs';
import { CLOUDMUX_BIN, freePort, httpRequest, sleep, sseEvents, startCloudmux } from './helpers.mjs';

const KEY = 'cmx-ledger-test-0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const TOKEN_USD = 0.001; // price 1000 USD per 1M tokens, input and output

function yaml(emu, st, extra = '') {
  return `
server: { admin_keys: [ "env:CMX_ADMIN" ], access_log: false }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini, price: { input: 1000, output: 1000 } } ] }
governance:
  store: "sqlite://${st.db}"
  ledger: { batch_interval: 100ms, batch_rows: 200, queue_rows: 8192 }
keys:
  load: { key: env:CMX_LOAD_KEY, team: ops }
teams:
  ops: {}
${extra}`;
}

const env = { CMX_ADMIN: ADMIN_KEY, CMX_LOAD_KEY: KEY };

// One request on its own connection; resolves what the client saw.
function send(port, body, path = '/v1/chat/completions') {
  const data = JSON.stringify(body);
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), authorization: `Bearer ${KEY}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        const done = () => resolve({ status: res.statusCode, headers: res.headers, text, bytes: Buffer.byteLength(data), at: Date.now() });
        res.on('end', done);
        res.on('aborted', done);
        res.on('error', done);
      },
    );
    req.on('error', (error) => resolve({ status: null, error, at: Date.now() }));
    req.end(data);
  });
}

// What the test expects the ledger to hold for one answer.
function expected(kind, r) {
  if (kind === 'json') {
    const u = JSON.parse(r.text).usage;
    return { prompt: u.prompt_tokens, completion: u.completion_tokens, estimated: 0 };
  }
  const events = sseEvents(r.text);
  if (kind === 'stream') {
    const u = events.find((e) => e && e.usage).usage;
    return { prompt: u.prompt_tokens, completion: u.completion_tokens, estimated: 0 };
  }
  // A cut stream: what was relayed, at four characters a token; the prompt
  // from the body's bytes (the provider's count never came).
  let chars = 0;
  for (const e of events)
    for (const c of (e && e.choices) || []) chars += [...(c.delta?.content ?? '')].length;
  return { prompt: Math.floor(r.bytes / 4) + 1, completion: Math.ceil(chars / 4), estimated: 1 };
}

describe('rows equal requests', () => {
  let emu, gw, st;
  before(async () => {
    emu = await startEmulator();
    st = stateDir();
    gw = await startCloudmux({ configYaml: yaml(emu, st), env, args: ['--workers', '2'] });
  });
  after(async () => {
    await gw?.stop();
    await emu?.close();
    st?.rm();
  });

  test('1,000 concurrent requests, streams and cut streams among them, are 1,000 rows', async () => {
    const kinds = [];
    const bodies = [];
    for (let i = 0; i < 1000; i++) {
      const kind = i % 10 === 0 ? 'cut' : i % 3 === 0 ? 'stream' : 'json';
      const words = `request ${i} ${'word '.repeat(i % 7)}`.trim();
      const body = { model: 'chat', messages: [{ role: 'user', content: kind === 'cut' ? `${words} [[fault:cut_stream after=3 mode=destroy]]` : words }] };
      if (kind !== 'json') Object.assign(body, { stream: true, stream_options: { include_usage: true } });
      kinds.push(kind);
      bodies.push(body);
    }
    const results = await Promise.all(bodies.map((b) => send(gw.port, b)));
    const ids = results.map((r) => r.headers?.['x-request-id']);
    results.forEach((r, i) => assert.equal(r.status, 200, `request ${i} (${kinds[i]}): ${r.error || r.text?.slice(0, 200)}`));
    assert.equal(new Set(ids).size, 1000);
    for (let i = 0; i < 1000; i += 10) {
      const last = sseEvents(results[i].text).at(-1);
      assert.ok(last?.error, 'a cut stream ends with an error event');
    }
    await eventually(() => Number(sqlite(st.db, 'SELECT COUNT(*) FROM cmx_ledger')[0][0]) >= 1000, { timeoutMs: 5000, what: '1000 rows' });
    await sleep(300); // nothing more comes
    const rows = sqlite(st.db, 'SELECT request_id, prompt_tokens, completion_tokens, estimated, error, key_id, team_id FROM cmx_ledger');
    assert.equal(rows.length, 1000);
    const byId = new Map(rows.map((r) => [r[0], r]));
    assert.equal(byId.size, 1000);
    let prompt = 0;
    let completion = 0;
    results.forEach((r, i) => {
      const row = byId.get(ids[i]);
      assert.ok(row, `no row for ${ids[i]}`);
      const want = expected(kinds[i], r);
      assert.equal(Number(row[1]), want.prompt, `${kinds[i]} ${i}: prompt tokens`);
      assert.equal(Number(row[2]), want.completion, `${kinds[i]} ${i}: completion tokens`);
      assert.equal(Number(row[3]), want.estimated, `${kinds[i]} ${i}: estimated`);
      assert.equal(row[4] !== '', kinds[i] === 'cut', `${kinds[i]} ${i}: error column "${row[4]}"`);
      assert.deepEqual(row.slice(5), ['load', 'ops']);
      prompt += want.prompt;
      completion += want.completion;
    });
    // The report (from the roll-ups) equals the reference.
    const rep = await admin(gw, 'GET', '/admin/spend?format=json');
    const t = rep.json.total;
    assert.equal(t.requests, 1000);
    assert.equal(t.estimated_requests, 100);
    assert.equal(t.unpriced_requests, 0);
    assert.equal(t.prompt_tokens, prompt);
    assert.equal(t.completion_tokens, completion);
    assert.ok(Math.abs(t.cost_usd - (prompt + completion) * TOKEN_USD) < 1e-6, `${t.cost_usd} vs ${(prompt + completion) * TOKEN_USD}`);
    // The cost of whole answers is also what their header said.
    const headerSum = results.filter((r, i) => kinds[i] === 'json').reduce((s, r) => s + Number(r.headers['x-cloudmux-cost-usd']), 0);
    const jsonRows = sqlite(st.db, "SELECT SUM(cost_usd) FROM cmx_ledger WHERE estimated = 0 AND request_id IN (" +
      results.map((r, i) => (kinds[i] === 'json' ? `'${ids[i]}'` : null)).filter(Boolean).join(',') + ')');
    assert.ok(Math.abs(Number(jsonRows[0][0]) - headerSum) < 1e-6);
    const m = await admin(gw, 'GET', '/metrics');
    assert.match(m.body, /cloudmux_ledger_rows_written_total 1000\n/);
    assert.match(m.body, /cloudmux_ledger_rows_dropped_total 0\n/);
  });

});

// Its own gateway: the cut streams above may leave the target's breaker open.
describe('a cut stream of another API', () => {
  let emu, gw, st;
  before(async () => {
    emu = await startEmulator();
    st = stateDir();
    gw = await startCloudmux({ configYaml: yaml(emu, st), env });
  });
  after(async () => {
    await gw?.stop();
    await emu?.close();
    st?.rm();
  });

  test('a cut Responses stream passed through is charged for the text its events carried', async () => {
    const body = { model: 'chat', input: 'one two three four five six seven [[fault:cut_stream after=9]]', stream: true };
    const r = await send(gw.port, body, '/v1/responses');
    assert.equal(r.status, 200);
    const events = sseEvents(r.text).filter((e) => e && typeof e === 'object');
    assert.deepEqual(events.slice(-2).map((e) => e.type), ['error', 'response.failed']);
    // the deltas went on in runs of the upstream's events, each counted
    const chars = events.filter((e) => e.type === 'response.output_text.delta').reduce((n, e) => n + [...e.delta].length, 0);
    assert.ok(chars > 0);
    const id = r.headers['x-request-id'];
    await eventually(() => sqlite(st.db, `SELECT COUNT(*) FROM cmx_ledger WHERE request_id = '${id}'`)[0][0] === '1', { timeoutMs: 5000, what: 'its row' });
    const [row] = sqlite(st.db, `SELECT prompt_tokens, completion_tokens, estimated FROM cmx_ledger WHERE request_id = '${id}'`);
    assert.deepEqual(row.map(Number), [Math.floor(r.bytes / 4) + 1, Math.ceil(chars / 4), 1]);
  });
});

describe('a killed gateway', () => {
  test('kill -9 under load loses at most the last batch window; the database opens clean', async () => {
    const emu = await startEmulator();
    const st = stateDir();
    const port = await freePort();
    const configPath = `${st.dir}/cloudmux.yaml`;
    (await import('node:fs')).writeFileSync(configPath, yaml(emu, st));
    const child = spawn(CLOUDMUX_BIN, ['serve', '--config', configPath, '--listen', `127.0.0.1:${port}`, '--workers', '2'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    try {
      await eventually(async () => {
        try {
          return (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200;
        } catch {
          return false;
        }
      }, { timeoutMs: 10000, what: 'the gateway' });
      const done = [];
      let stop = false;
      const load = async () => {
        while (!stop) {
          const r = await send(port, { model: 'chat', messages: [{ role: 'user', content: 'steady load' }] });
          if (r.status === 200) done.push({ id: r.headers['x-request-id'], at: r.at });
        }
      };
      const workers = Array.from({ length: 16 }, load);
      await sleep(1500);
      const killedAt = Date.now();
      child.kill('SIGKILL');
      const how = await exited;
      stop = true;
      await Promise.all(workers);
      assert.equal(how.signal, 'SIGKILL');
      assert.ok(done.length > 100, `only ${done.length} requests under load`);

      assert.deepEqual(sqlite(st.db, 'PRAGMA integrity_check'), [['ok']]);
      const inLedger = new Set(sqlite(st.db, 'SELECT request_id FROM cmx_ledger').map((r) => r[0]));
      const lost = done.filter((d) => !inLedger.has(d.id));
      // The batch window is 100 ms; a commit in progress can add a little.
      const window = 300;
      for (const l of lost) assert.ok(killedAt - l.at <= window, `a row answered ${killedAt - l.at} ms before the kill was lost`);
      assert.ok(inLedger.size >= done.length - lost.length);

      // It starts again on the same file and goes on writing.
      const again = await startCloudmux({ configYaml: yaml(emu, st), env });
      const before = inLedger.size;
      const r = await send(again.port, { model: 'chat', messages: [{ role: 'user', content: 'after the crash' }] });
      assert.equal(r.status, 200);
      await eventually(() => Number(sqlite(st.db, 'SELECT COUNT(*) FROM cmx_ledger')[0][0]) === before + 1, { timeoutMs: 3000, what: 'the new row' });
      const report = cli(['spend', '--config', again.configPath, '--format', 'json'], env);
      assert.equal(report.status, 0, report.stderr);
      assert.equal(JSON.parse(report.stdout).total.requests, before + 1);
      await again.stop();
      const oldest = lost.length ? Math.max(...lost.map((l) => killedAt - l.at)) : 0;
      console.log(`# kill -9: ${done.length} answered, ${lost.length} lost, the oldest answered ${oldest} ms before the kill`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await emu.close();
      st.rm();
    }
  });
});

describe('per-request audit records', () => {
  test('carry ids, group, usage and cost, never the content', async () => {
    const emu = await startEmulator();
    const st = stateDir();
    const gw = await startCloudmux({
      configYaml: yaml(emu, st, `audit: { file: "${st.audit}", requests: true }\n`),
      env,
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => send(gw.port, { model: 'chat', messages: [{ role: 'user', content: `zebra-content-${i}` }] })),
      );
      await eventually(() => (readFileSync(st.audit, 'utf8').match(/"action":"request"/g) || []).length === 20, { what: '20 records' });
      const text = readFileSync(st.audit, 'utf8');
      assert.ok(!text.includes('zebra-content'));
      const recs = text.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.action === 'request');
      const ids = new Set(recs.map((r) => r.details.request_id));
      for (const r of results) assert.ok(ids.has(r.headers['x-request-id']));
      assert.equal(recs[0].actor, 'key:load');
      assert.equal(recs[0].target, 'chat');
      assert.equal(recs[0].details.status, 200);
      assert.ok(recs[0].details.cost_usd > 0);
      const v = cli(['audit', 'verify', st.audit]);
      assert.equal(v.status, 0, v.stdout);
    } finally {
      await gw.stop();
      await emu.close();
      st.rm();
    }
  });
});

describe('a ledger that cannot write', () => {
  // Another process holds the SQLite write lock: the writer's commits fail
  // after the busy timeout (5 s), as they would on a full or failing disk.
  async function holdWriteLock(db) {
    const { spawn: spawnChild } = await import('node:child_process');
    const holder = spawnChild('sqlite3', [db], { stdio: ['pipe', 'ignore', 'ignore'] });
    holder.stdin.write('BEGIN IMMEDIATE;\nSELECT 1;\n');
    await sleep(200);
    return async () => {
      holder.stdin.end('ROLLBACK;\n.quit\n');
      await new Promise((r) => holder.on('exit', r));
    };
  }
  const chat = (gw, text) => send(gw.port, { model: 'chat', messages: [{ role: 'user', content: text }] });

  for (const mode of ['open', 'closed']) {
    test(`on_failure: ${mode}`, async () => {
      const emu = await startEmulator();
      const st = stateDir();
      const gw = await startCloudmux({
        configYaml: yaml(emu, st).replace('queue_rows: 8192 }', `queue_rows: 8192, on_failure: ${mode} }`),
        env,
      });
      try {
        assert.equal((await chat(gw, 'before')).status, 200);
        await eventually(() => Number(sqlite(st.db, 'SELECT COUNT(*) FROM cmx_ledger')[0][0]) === 1, { what: 'the first row' });
        const release = await holdWriteLock(st.db);
        let statuses = [];
        try {
          assert.equal((await chat(gw, 'while failing')).status, 200); // admitted: no failure seen yet
          // The commit of that row fails once the busy timeout is over.
          await eventually(async () => (await metric(gw, 'cloudmux_ledger_write_errors_total')) >= 1, {
            timeoutMs: 12000,
            what: 'a failed commit',
          });
          for (let i = 0; i < 3; i++) statuses.push((await chat(gw, `during ${i}`)).status);
        } finally {
          await release();
        }
        if (mode === 'open') {
          assert.deepEqual(statuses, [200, 200, 200]);
          // Nothing was lost: the kept batch and the rest are written after.
          await eventually(() => Number(sqlite(st.db, 'SELECT COUNT(*) FROM cmx_ledger')[0][0]) === 5, {
            timeoutMs: 10000,
            what: 'every row',
          });
        } else {
          for (const s of statuses) assert.equal(s, 503);
          const r = await httpRequest(`${gw.baseURL}/chat/completions`, {
            headers: { authorization: `Bearer ${KEY}` },
            body: { model: 'chat', messages: [{ role: 'user', content: 'x' }] },
          });
          // Either still refused (503 ledger_unavailable) or already recovered.
          if (r.status === 503) assert.equal(JSON.parse(r.body).error.code, 'ledger_unavailable');
          await eventually(async () => (await chat(gw, 'after')).status === 200, { timeoutMs: 10000, what: 'the recovery' });
        }
        assert.match(gw.stderr(), /spend ledger: cannot write \d+ rows \(kept, retrying\)/);
      } finally {
        await gw.stop();
        await emu.close();
        st.rm();
      }
    });
  }

  test('budgets are rebuilt from the ledger when the gateway starts again', async () => {
    const emu = await startEmulator();
    const st = stateDir();
    const withBudget = yaml(emu, st).replace('load: { key: env:CMX_LOAD_KEY, team: ops }', 'load: { key: env:CMX_LOAD_KEY, team: ops, budget: { usd: 0.005 } }');
    let gw = await startCloudmux({ configYaml: withBudget, env });
    try {
      assert.equal((await chat(gw, 'one')).status, 200); // $0.003
      assert.equal((await chat(gw, 'two')).status, 200); // $0.006: over
      assert.equal((await chat(gw, 'three')).status, 429);
      await gw.stop();
      gw = await startCloudmux({ configYaml: withBudget, env });
      const r = await httpRequest(`${gw.baseURL}/chat/completions`, {
        headers: { authorization: `Bearer ${KEY}` },
        body: { model: 'chat', messages: [{ role: 'user', content: 'four' }] },
      });
      assert.equal(r.status, 429);
      assert.match(JSON.parse(r.body).error.message, /spent \$0\.006 of its \$0\.005 monthly budget/);
    } finally {
      await gw.stop();
      await emu.close();
      st.rm();
    }
  });
});

async function metric(gw, name) {
  const r = await admin(gw, 'GET', '/metrics');
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : null;
}
