// For `bench_worker` (crates/ws-worker/examples/bench_worker.rs): starts the kit's own
// TypeScript lightning-mock from a kit checkout, waits for a worker to connect, runs one warm-up
// run, then enqueues a burst of runs and prints one JSON line when the last completes:
// {"warmup_ms", "elapsed_ms" (first claim → last run:complete), "latencies_ms" (claim →
// run:complete of each run)}.
//
//   node bench_kit_mock.mjs <kit-dir> <port> <runs> '<plan json>'
//
// Each run is the plan with a fresh id. Times are taken where the mock emits its events (after
// it has handled the message).
const [kitDir, port, runsText, planText] = process.argv.slice(2);
const entry = `${kitDir}/packages/lightning-mock/dist/index.js`;
const { default: createLightningServer } = await import(entry);
const app = createLightningServer({ port: Number(port) });
const runs = Number(runsText);
const plan = JSON.parse(planText);

const claimed = new Map();
const completed = new Map();
let waiting = null;
app.on('claim', (evt) => {
  for (const run of evt.payload ?? []) claimed.set(run.id, performance.now());
});
app.on('run:complete', (evt) => {
  completed.set(evt.runId, performance.now());
  if (waiting && waiting.ids.every((id) => completed.has(id))) {
    const done = waiting.done;
    waiting = null;
    done();
  }
});

const enqueue = (n, tag) => {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const id = `${tag}-${i}-${Math.random().toString(36).slice(2)}`;
    app.enqueueRun({ ...structuredClone(plan), id });
    ids.push(id);
  }
  return new Promise((done) => {
    waiting = { ids, done };
  }).then(() => ids);
};

const started = performance.now();
await enqueue(1, 'warmup');
const warmup_ms = performance.now() - started;
const ids = await enqueue(runs, 'run');
const first = Math.min(...ids.map((id) => claimed.get(id)));
const last = Math.max(...ids.map((id) => completed.get(id)));
const latencies_ms = ids.map((id) => completed.get(id) - claimed.get(id));
process.stdout.write(
  JSON.stringify({ warmup_ms, elapsed_ms: last - first, latencies_ms }) + '\n'
);
process.exit(0);
