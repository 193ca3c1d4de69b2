// Records the expected final state and job log lines of every corpus job with the kit: each
// job is compiled by the kit's compiler (a kit built from source) and run with node and the
// kit's runtime (`@openfn/runtime`) on the real adaptors installed here by npm. See README.md.
//
// Usage (from this folder): npm install && node --experimental-vm-modules record.mjs [filter]
// Env: KIT_DIR = the OpenFn/kit checkout, built (default /work/kitref).

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';

import run from '@openfn/runtime';
import { createMockLogger } from '@openfn/logger';

const kitDir = resolve(process.env.KIT_DIR ?? '/work/kitref');
const kitCompiler = await import(
  pathToFileURL(join(kitDir, 'packages/compiler/dist/index.js')).href
);

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

// The kit's transform times itself with console.time.
console.time = () => {};
console.timeEnd = () => {};
const quiet = createMockLogger('CMP');

/** Compiles a job as the kit's CLI does for one adaptor: imports from its typed exports. */
async function compile(file, adaptor, dir) {
  const exports = await kitCompiler.preloadAdaptorExports(dir, quiet);
  const source = readFileSync(join(here, file), 'utf8');
  return kitCompiler.default(source, {
    name: 'job',
    logger: quiet,
    'add-imports': { adaptors: [{ name: adaptor, exports, exportAll: true }] },
  });
}

/**
 * The log lines of a job as the kit's engine sends them (JSON loggers): the job's `console`
 * (`JOB`) and the adaptor's global `console` (`ADA`, the kit engine replaces the global console
 * of its worker thread with that logger), in time order, without the times.
 */
const logLines = (...loggers) =>
  loggers
    .flatMap((l) => l._history)
    .sort((a, b) => (BigInt(a.time) < BigInt(b.time) ? -1 : BigInt(a.time) > BigInt(b.time) ? 1 : 0))
    .map(({ level, name, message }) => ({ name, level, message }));

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
    const { code, map } = await compile(file, adaptor, dir);
    const statePath = join(here, `${name}.state.json`);
    const input = existsSync(statePath)
      ? JSON.parse(readFileSync(statePath, 'utf8').replaceAll(SERVER_PLACEHOLDER, base))
      : undefined;
    const plan = { workflow: { steps: [{ id: 'job', expression: code, sourceMap: map }] } };
    const logger = createMockLogger();
    const jobLogger = createMockLogger('JOB', { level: 'debug', json: true });
    const adaptorLogger = createMockLogger('ADA', { level: 'debug', json: true });
    const nodeConsole = globalThis.console;
    globalThis.console = adaptorLogger;
    let result;
    try {
      result = await run(plan, input, {
        logger,
        jobLogger,
        // A fresh adaptor module instance per job (adaptors keep module-level caches, e.g.
        // common's compiled `validate` schemas), as each job runs in a fresh realm with us.
        linker: { modules: { [adaptor]: { path: dir } }, cacheKey: name },
      });
    } catch (e) {
      result = { thrown: { name: e.name, message: e.message } };
    } finally {
      globalThis.console = nodeConsole;
    }
    const text = JSON.stringify(result === undefined ? null : result, null, 2).replaceAll(
      base,
      SERVER_PLACEHOLDER
    );
    writeFileSync(join(here, `${name}.expected.json`), text + '\n');
    // Request times vary: normalised here and by the Rust harness alike.
    const logs = JSON.stringify(logLines(jobLogger, adaptorLogger), null, 2)
      .replaceAll(base, SERVER_PLACEHOLDER)
      .replace(/ in \d+ms\b/g, ' in <T>ms');
    writeFileSync(join(here, `${name}.logs.json`), logs + '\n');
    console.log(`recorded ${name}`);
  }
} finally {
  child.kill();
}
