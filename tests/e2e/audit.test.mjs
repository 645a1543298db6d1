// audit.test.mjs — `cloudmux audit verify` on a log a gateway wrote: intact
// it exits 0; edited, with a record deleted, reordered or inserted, or cut
// short (against its checkpoint), it exits 1 naming the first bad record;
// with the wrong HMAC key, or a forged one, too; usage mistakes exit 2.
// A log rotated by the gateway (audit.rotate_size) and extended by the
// command line verifies as one chain; a rotated file removed, or edited, is
// named.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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

test('a rotated log verifies across its files; a missing or edited rotated file is named', async () => {
  const rs = stateDir();
  try {
    const configYaml = `
server: { admin_keys: [ "env:CMX_ADMIN" ] }
providers: { m: { type: mock } }
models: { chat: [ { provider: m } ] }
governance: { store: "sqlite://${rs.db}" }
audit: { file: "${rs.audit}", hmac_key: env:CMX_HMAC, rotate_size: 4KiB }
`;
    writeFileSync(join(rs.dir, 'cloudmux.yaml'), configYaml);
    const gw = await startCloudmux({ configYaml, env: { CMX_ADMIN: ADMIN_KEY, CMX_HMAC: HMAC } });
    try {
      for (let i = 0; i < 12; i++) {
        assert.equal((await admin(gw, 'POST', '/admin/keys', { name: `rotating-app-${i}`, id: `r${i}`, tags: { note: 'x'.repeat(200) } })).status, 201);
        if (i !== 6) continue;
        // The command line appends to the same chain between the gateway's records.
        const r = cli(['keys', 'update', '--config', join(rs.dir, 'cloudmux.yaml'), 'r0', '--rpm', '5'], { CMX_ADMIN: ADMIN_KEY, CMX_HMAC: HMAC });
        assert.equal(r.status, 0, r.stderr);
      }
    } finally {
      await gw.stop();
    }
    const dir = dirname(rs.audit);
    const base = basename(rs.audit);
    const rotated = readdirSync(dir)
      .filter((n) => new RegExp(`^${base.replace('.', '\\.')}\\.\\d{12}$`).test(n))
      .sort();
    assert.ok(rotated.length >= 2, `rotated files: ${rotated}`);
    for (const n of rotated) assert.ok(readFileSync(join(dir, `${n}.head`), 'utf8').includes('"hmac"'), `${n}.head`);
    const all = [...rotated.map((n) => join(dir, n)), rs.audit].flatMap((f) => readFileSync(f, 'utf8').trim().split('\n').filter(Boolean));
    assert.deepEqual(
      all.map((l) => JSON.parse(l).seq),
      all.map((_, i) => i + 1),
    );
    let r = verify(rs.audit);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`ok: ${all.length} records in ${rotated.length + 1} files, seq 1 to ${all.length}, chain intact; checkpoint of .* matches`));
    // An edit in the oldest rotated file.
    const first = join(dir, rotated[0]);
    const original = readFileSync(first, 'utf8');
    writeFileSync(first, original.replace('rotating-app-0', 'rotating-app-X'));
    r = verify(rs.audit);
    assert.equal(r.status, 1);
    assert.match(r.stdout, new RegExp(`${rotated[0]}: TAMPERED: line \\d+ \\(seq \\d+\\): edited`));
    writeFileSync(first, original);
    assert.equal(verify(rs.audit).status, 0);
    // The newest rotated file removed.
    unlinkSync(join(dir, rotated.at(-1)));
    r = verify(rs.audit);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /TAMPERED: line 1 \(seq \d+\): records? seq \d+( to \d+)? before it (was|were) removed \(a rotated file that held them is missing or cut short\)/);
  } finally {
    rs.rm();
  }
});
