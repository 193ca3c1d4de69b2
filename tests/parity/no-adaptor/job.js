export default [s => ({ ...s, plain: true })];
