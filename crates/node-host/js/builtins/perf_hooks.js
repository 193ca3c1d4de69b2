// The `perf_hooks` built-in: the realm's `performance` and inert observers.
'use strict';
const performance = globalThis.performance || { now: () => Date.now(), timeOrigin: Date.now() };
if (!performance.mark) performance.mark = () => {};
if (!performance.measure) performance.measure = () => {};
if (!performance.clearMarks) performance.clearMarks = () => {};
if (!performance.getEntriesByName) performance.getEntriesByName = () => [];
class PerformanceObserver { constructor() {} observe() {} disconnect() {} static get supportedEntryTypes() { return []; } }
module.exports = {
  performance,
  PerformanceObserver,
  PerformanceEntry: class PerformanceEntry {},
  monitorEventLoopDelay: () => ({ enable() {}, disable() {}, percentile: () => 0, min: 0, max: 0, mean: 0, stddev: 0 }),
  createHistogram: () => ({ record() {}, percentile: () => 0, min: 0, max: 0, mean: 0 }),
  constants: {},
};
