// audit.test.mjs — `cloudmux audit verify` on a log a gateway wrote: intact
// it exits 0; edited, with a record deleted, reordered or inserted, or cut
// short (against its checkpoint), it exits 1 naming the first bad record;
// with the wrong HMAC key, or a forged one, too; usage mistakes exit 2.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ADMIN_KEY, admin, cli, stateDir } from './governance_helpers.mjs';
import { startCloudmux } from './helpers.mjs';

const HMAC = 'audit-hmac-5b4a39281706f5e4d3c2b1a0';
let st;
let lines;

before(async () => {
  st = stateDir();
  const gw = await startCloudmux({
    configYaml: `
server: { admin_keys: [ "env:CMX_ADMIN" ] }
providers: { m: { type: mock } }
models: { chat: [ { provider: m } ] }
governance: { store: "sqlite://${st.db}" }
audit: { file: "${st.audit}", hmac_key: env:CMX_HMAC }
`,
    env: { CMX_ADMIN: ADMIN_KEY, CMX_HMAC: HMAC },
  });
  for (let i = 0; i < 3; i++) {
    const k = await admin(gw, 'POST', '/admin/keys', { name: `app-${i}`, id: `k${i}` });
    assert.equal(k.status, 201);
    await admin(gw, 'PATCH', `/admin/keys/k${i}`, { rpm: 10 + i });
  }
  await admin(gw, 'POST', '/admin/keys/k1/revoke');
  await gw.stop();
  lines = readFileSync(st.audit, 'utf8').trim().split('\n');
  assert.equal(lines.length, 7);
});

after(() => st?.rm());

// A copy of the log (and its checkpoint), changed by fn(lines).
function tampered(name, fn) {
  const file = join(st.dir, `${name}.log`);
  writeFileSync(file, fn([...lines]).join('\n') + '\n');
  copyFileSync(`${st.audit}.head`, `${file}.head`);
  return file;
}

// A made-up record that links to the one before it, with a correct hash but
// (lacking the key) no valid HMAC.
function forged(prevLine) {
  const prev = JSON.parse(prevLine);
  const body = `{"seq":${prev.seq},"time":"${prev.time}","actor":"admin:00000000","action":"key.created","target":"key:evil","details":{},"prev":"${prev.prev}"}`;
  const hash = createHash('sha256').update(body).digest('hex');
  return `${body.slice(0, -1)},"hash":"${hash}","hmac":"${'0'.repeat(64)}"}`;
}

const verify = (file, ...more) => cli(['audit', 'verify', file, '--hmac-key', 'env:CMX_HMAC', ...more], { CMX_HMAC: HMAC });

test('the log as written verifies, with and without the key', () => {
  let r = verify(st.audit);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok: 7 records, seq 1 to 7, chain intact; checkpoint of .* at seq 7 matches; every HMAC matches/);
  r = cli(['audit', 'verify', st.audit]);
  assert.equal(r.status, 0);
  r = cli(['audit', 'verify', st.audit, '--hmac-key', 'env:OTHER'], { OTHER: 'not-the-key' });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /TAMPERED: line 1 \(seq 1\): edited or forged: its HMAC does not match/);
});

test('each kind of tampering is named at its first record', () => {
  const cases = [
    ['edit', (l) => ((l[3] = l[3].replace('"rpm":{"from":null,"to":11}', '"rpm":{"from":null,"to":99}')), l), /line 4 \(seq 4\): edited: its hash does not match its content/],
    ['delete', (l) => (l.splice(2, 1), l), /line 3 \(seq 4\): record seq 3 before it was removed/],
    ['reorder', (l) => ([l[4], l[5]] = [l[5], l[4]], l), /line 5 \(seq 6\): reordered: seq 5 should come here but is at line 6/],
    // A record replayed: the chain skips one copy.
    ['replay', (l) => (l.splice(3, 0, l[2]), l), /line 3 \(seq 3\): inserted: the chain runs from line 2 \(seq 2\) straight to line 4 \(seq 3\) without it/],
    // A record made up without the HMAC key.
    ['forge', (l) => (l.splice(3, 0, forged(l[2])), l), /line 4 \(seq 3\): edited or forged: its HMAC does not match/],
    ['truncate', (l) => l.slice(0, 5), /truncated: the checkpoint of .* covers records up to seq 7, but the log ends at seq 5: records seq 6 to 7 are missing/],
  ];
  for (const [name, fn, want] of cases) {
    const r = verify(tampered(name, fn));
    assert.equal(r.status, 1, `${name}: ${r.stdout}`);
    assert.match(r.stdout, want, name);
  }
});

test('usage mistakes exit 2', () => {
  assert.equal(cli(['audit']).status, 2);
  assert.equal(cli(['audit', 'verify']).status, 2);
  const r = cli(['audit', 'verify', st.audit, '--hmac-key', 'plain-key-on-the-command-line']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--hmac-key takes env:NAME or file:PATH/);
  assert.equal(cli(['audit', 'verify', join(st.dir, 'missing.log')]).status, 1);
});
