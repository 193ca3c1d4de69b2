// For `cargo xtask parity` (xtask/src/parity_worker.rs): starts the kit's own TypeScript
// lightning-mock from a kit checkout, enqueues one Lightning plan, and prints every run-channel
// event the mock received as a JSON line on stdout: {"event", "runId", "payload"}.
//
//   node parity_kit_mock.mjs <kit-dir> <port> '<plan json>'
//
// The kit's mock emits an event after it has replied; it does not say what it replied.
const [kitDir, port, planText] = process.argv.slice(2);
const entry = `${kitDir}/packages/lightning-mock/dist/index.js`;
const { default: createLightningServer } = await import(entry);
const app = createLightningServer({ port: Number(port) });
const events = [
  'fetch:plan',
  'fetch:credential',
  'fetch:dataclip',
  'run:start',
  'step:start',
  'step:complete',
  'run:log',
  'run:batch_logs',
  'run:complete',
];
for (const event of events) {
  app.onSocketEvent(
    event,
    undefined,
    (evt) => {
      const line = { event, runId: evt.runId, payload: evt.payload };
      process.stdout.write(JSON.stringify(line) + '\n');
    },
    false
  );
}
app.enqueueRun(JSON.parse(planText));
