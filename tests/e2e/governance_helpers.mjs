// governance_helpers.mjs — what the governance tests share: the admin API
// and the command line, the SQLite ledger read with the sqlite3 client, and
// a real PostgreSQL server from Debian's package, initdb'd into a temp
// directory, started on a free loopback port and stopped by its PID.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { CLOUDMUX_BIN, freePort, sleep, tempDir } from './helpers.mjs';

export const ADMIN_KEY = 'adm-5f1e2d3c4b5a69788796a5b4c3d2e1f0';

// One admin API call; resolves { status, headers, body, json }.
export async function admin(gw, method, path, body, { key = ADMIN_KEY } = {}) {
  const r = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, headers: r.headers, body: text, json };
}

// Runs the cloudmux command line; resolves { status, stdout, stderr }.
export function cli(args, env = {}) {
  const r = spawnSync(CLOUDMUX_BIN, args, { encoding: 'utf8', timeout: 60000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Rows of a SQL query on a SQLite file, as arrays of strings.
export function sqlite(file, sql) {
  const out = execFileSync('sqlite3', ['-batch', '-separator', '\t', file, sql], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.length)
    .map((l) => l.split('\t'));
}

// Waits until fn() is truthy (polling), or throws after timeoutMs.
export async function eventually(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

function pgBin(name) {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort().reverse() : [];
  for (const v of versions) {
    const p = join(root, v, 'bin', name);
    if (existsSync(p)) return p;
  }
  throw new Error(`PostgreSQL's ${name} not found under ${root} (scripts/deps.sh test installs postgresql)`);
}

// PostgreSQL refuses to run as root: as root the server runs as the
// `postgres` user the Debian package creates (setpriv execs in place, so the
// PID we hold is the server's own); as anyone else, as them.
function asServerUser(cmd, args) {
  if (process.getuid && process.getuid() === 0)
    return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]];
  return [cmd, args];
}

// Starts a throwaway PostgreSQL; resolves { url, pid, stop() }.
export async function startPostgres() {
  const dir = tempDir('cmx-pg-');
  const data = join(dir, 'data');
  if (process.getuid && process.getuid() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const [initCmd, initArgs] = asServerUser(pgBin('initdb'), ['-D', data, '-A', 'trust', '-U', 'cmx', '--no-sync']);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  const port = await freePort();
  const [cmd, args] = asServerUser(pgBin('postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
    '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=50',
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => child.on('exit', r));
  const ready = () => spawnSync(pgBin('pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]).status === 0;
  const deadline = Date.now() + 15000;
  while (!ready()) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`PostgreSQL did not start:\n${log}`);
    }
    await sleep(50);
  }
  execFileSync(pgBin('createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'cmx', 'cloudmux'], { stdio: 'pipe' });
  return {
    url: `postgres://cmx@127.0.0.1:${port}/cloudmux`,
    port,
    pid: child.pid,
    psql(sql) {
      return execFileSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'cmx', '-d', 'cloudmux', '-At', '-F', '\t', '-c', sql], {
        encoding: 'utf8',
      })
        .split('\n')
        .filter((l) => l.length)
        .map((l) => l.split('\t'));
    },
    async stop() {
      // SIGINT: PostgreSQL's fast shutdown.
      if (child.exitCode === null) child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A directory for a gateway's store and audit log, removed by rm().
export function stateDir() {
  const dir = tempDir('cmx-gov-');
  mkdirSync(join(dir, 'audit'), { recursive: true });
  return { dir, db: join(dir, 'cloudmux.db'), audit: join(dir, 'audit', 'audit.log'), rm: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeFile(path, text) {
  writeFileSync(path, text);
  return path;
}
