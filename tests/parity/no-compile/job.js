export default [s => ({ ...s, raw: true })];
