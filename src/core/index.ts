/**
 * ferkit core: isomorphic detection + expression recognition (no Node or DOM imports).
 * Runtimes plug in through {@link OrtModule}: `ferkit/node` passes onnxruntime-node, the web app onnxruntime-web.
 * Most programs want `createAnalyzer` from `ferkit/node` or `createWebAnalyzer` from `ferkit/web` instead.
 * @module ferkit
 */
export * from './errors.js';
export * from './labels.js';
export * from './valence.js';
export * from './types.js';
export * from './image.js';
export * from './metrics.js';
export * from './calibration.js';
export * from './quality.js';
export * from './model-card.js';
export * from './runtime.js';
export * from './classifier/expression.js';
export * from './detector/index.js';
export * from './analyzer.js';
export * from './tracker.js';
export * from './smoothing.js';
export * from './video.js';
export * from './frame-budget.js';
export * from './explain.js';
export * from './baseline.js';
