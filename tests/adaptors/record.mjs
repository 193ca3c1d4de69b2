// Records the expected final state of every corpus job with node and the kit's runtime
// (`@openfn/runtime`) running the real adaptors installed here by npm. See README.md.
//
// Usage (from this folder): npm install && node --experimental-vm-modules record.mjs [filter]
// Env: COMPILE_JOB = path of the `compile_job` example binary (default: `cargo run` it).

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

import run from '@openfn/runtime';
import { createMockLogger } from '@openfn/logger';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER_PLACEHOLDER = 'http://SERVER';

/** The adaptor a job runs with: `NN-http-*` jobs use language-http, the others common. */
export const adaptorOf = (file) =>
  /^\d+-http-/.test(file) ? '@openfn/language-http' : '@openfn/language-common';

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [join(here, 'server.py'), '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.on('error', reject);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const port = Number(line.replace('listening ', ''));
      resolve({ child, base: `http://127.0.0.1:${port}` });
    });
  });
}

function compile(file, adaptor, dir) {
  const bin = process.env.COMPILE_JOB;
  const args = [join(here, file), adaptor, dir];
  const out = bin
    ? execFileSync(bin, args, { encoding: 'utf8' })
    : execFileSync(
        'cargo',
        ['run', '-q', '-p', 'openfn-runtime', '--example', 'compile_job', '--', ...args],
        { encoding: 'utf8', cwd: join(here, '..', '..') }
      );
  return JSON.parse(out);
}

const filter = process.argv[2];
const jobs = readdirSync(here)
  .filter((f) => /^\d+-.*\.js$/.test(f) && !f.endsWith('.state.js'))
  .filter((f) => !filter || f.includes(filter))
  .sort();

const { child, base } = await startServer();
try {
  for (const file of jobs) {
    const name = file.replace(/\.js$/, '');
    const adaptor = adaptorOf(file);
    const dir = join(here, 'node_modules', adaptor);
    const { code, map } = compile(file, adaptor, dir);
    const statePath = join(here, `${name}.state.json`);
    const input = existsSync(statePath)
      ? JSON.parse(readFileSync(statePath, 'utf8').replaceAll(SERVER_PLACEHOLDER, base))
      : undefined;
    const plan = { workflow: { steps: [{ id: 'job', expression: code, sourceMap: map }] } };
    const logger = createMockLogger();
    let result;
    try {
      result = await run(plan, input, {
        logger,
        jobLogger: logger,
        // A fresh adaptor module instance per job (adaptors keep module-level caches, e.g.
        // common's compiled `validate` schemas), as each job runs in a fresh realm with us.
        linker: { modules: { [adaptor]: { path: dir } }, cacheKey: name },
      });
    } catch (e) {
      result = { thrown: { name: e.name, message: e.message } };
    }
    const text = JSON.stringify(result === undefined ? null : result, null, 2).replaceAll(
      base,
      SERVER_PLACEHOLDER
    );
    writeFileSync(join(here, `${name}.expected.json`), text + '\n');
    console.log(`recorded ${name}`);
  }
} finally {
  child.kill();
}
