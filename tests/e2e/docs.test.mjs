// docs.test.mjs — every YAML example in README.md and docs/*.md goes
// through `cloudmux check`, so the documentation and the binary cannot
// drift apart.
//
// A block is checked as a whole config file unless the line before its
// fence says otherwise, in an HTML comment (invisible on GitHub):
//
//   <!-- check: fragment of providers -->   the block sits under `providers:`
//                                            (its own indentation kept)
//   <!-- check: with providers a, b -->     mock providers a and b are added
//                                            (for model examples that name them)
//   <!-- check: with files /a/b, /c -->     those paths (secrets, key files) are
//                                            replaced by readable temporary files
//   <!-- check: with env A, B -->           environment variables the platform sets
//                                            (not env: references) get dummy values
//   <!-- check: price list -->              the block is a price list, checked
//                                            as CLOUDMUX_PRICING
//   <!-- check: skip: REASON -->            not a cloudmux file (say what it is)
//
// Directives can be combined with ';' ("fragment of providers; with files /x").
// Every `env:NAME` a block references is set to a dummy value.  Errors fail
// the test; warnings (a secret written inline on purpose, a fragment without
// models) are allowed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { CLOUDMUX_BIN, REPO_ROOT, tempDir } from './helpers.mjs';

const MARKER = /^<!--\s*check:\s*(.*?)\s*-->\s*$/;

// Every ```yaml block of a Markdown file, with its line and marker.
function yamlBlocks(file) {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ya?ml\s*$/.test(lines[i])) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    const marker = start > 0 ? MARKER.exec(lines[start - 1])?.[1] ?? null : null;
    blocks.push({ where: `${file}:${start + 1}`, yaml: `${body.join('\n')}\n`, marker });
  }
  return blocks;
}

const files = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const blocks = files.flatMap(yamlBlocks);

// What to write and how to run check for one block; null to skip it.
// Files the block names are made in `dir`.
function plan(block, dir) {
  const m = block.marker;
  if (m === null) return { config: block.yaml };
  if (m.startsWith('skip:')) return null;
  if (m === 'price list') return { config: 'models: {}\n', priceList: block.yaml };
  let config = block.yaml;
  let env = [];
  for (const directive of m.split(';').map((d) => d.trim())) {
    let r;
    if ((r = /^fragment of (\w+)$/.exec(directive))) config = `${r[1]}:\n${config}`;
    else if ((r = /^with providers (.+)$/.exec(directive)))
      config += `providers:\n${r[1].split(',').map((n) => `  ${n.trim()}: { type: mock }\n`).join('')}`;
    else if ((r = /^with files (.+)$/.exec(directive))) {
      r[1].split(',').map((f) => f.trim()).forEach((path, i) => {
        const local = join(dir, `file-${i}`);
        writeFileSync(local, 'placeholder-for-docs-check\n');
        assert.ok(config.includes(path), `${block.where}: '${path}' is not in the block`);
        config = config.split(path).join(local);
      });
    } else if ((r = /^with env (.+)$/.exec(directive))) {
      env = r[1].split(',').map((n) => n.trim());
    } else throw new Error(`${block.where}: unknown check directive '${directive}'`);
  }
  return { config, env };
}

test('README.md and docs/ have YAML examples to check', () => {
  assert.ok(blocks.length >= 15, `only ${blocks.length} blocks found`);
  assert.ok(blocks.filter((b) => b.marker === null).length >= 8);
});

test('every YAML example in README.md and docs/ passes cloudmux check', () => {
  const dir = tempDir('cmx-docs-');
  const failures = [];
  try {
    for (const block of blocks) {
      const p = plan(block, dir);
      if (!p) {
        assert.match(block.marker, /^skip: \S/, `${block.where}: a skip needs a reason`);
        continue;
      }
      const configPath = join(dir, 'config.yaml');
      writeFileSync(configPath, p.config);
      const env = { ...process.env, CLOUDMUX_PRICING: '' };
      // Long enough for any secret (a virtual key needs 32 characters).
      const dummy = 'dummy-value-for-the-documentation-check';
      for (const [, name] of p.config.matchAll(/env:([A-Za-z_][A-Za-z0-9_]*)/g)) env[name] = dummy;
      for (const name of p.env ?? []) env[name] = dummy;
      if (p.priceList) {
        env.CLOUDMUX_PRICING = join(dir, 'pricing.yaml');
        writeFileSync(env.CLOUDMUX_PRICING, p.priceList);
      }
      const r = spawnSync(CLOUDMUX_BIN, ['check', '--config', configPath], { encoding: 'utf8', env, timeout: 15000 });
      if (r.status !== 0) failures.push(`${block.where} (exit ${r.status}):\n${r.stderr}--- the file checked:\n${p.config}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(failures, [], failures.join('\n'));
});

test('a broken example would be caught', () => {
  const dir = tempDir('cmx-docs-');
  try {
    writeFileSync(join(dir, 'config.yaml'), 'server:\n  listen_on: 1\n');
    const r = spawnSync(CLOUDMUX_BIN, ['check', '--config', join(dir, 'config.yaml')], { encoding: 'utf8' });
    assert.equal(r.status, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
