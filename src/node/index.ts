/**
 * ferkit for Node: decoding with sharp, onnxruntime-node, models read from disk.
 * @example
 * import { createAnalyzer } from 'ferkit/node';
 * const analyzer = await createAnalyzer();
 * try {
 *   const res = await analyzer.analyze('class.jpg');
 *   for (const f of res.faces) console.log(f.label, f.labelScore.toFixed(2), f.box);
 * } finally { await analyzer.dispose(); }
 */

export * from '../core/index.js';
export {
  decodeImage, decodeImageWithin, inspectImage, readImageBytes, PixelBudget, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS,
} from './decode.js';
export { readClassifierModel, readDetectorModels, packageRoot, DEFAULT_CLASSIFIER } from './models.js';
export {
  loadNodeRuntime, NATIVE_RUNTIME_INSTALL, type NodeRuntime, type NodeRuntimeName,
} from './runtime.js';
export {
  analyzeVideoFile, probeVideo, decodeVideoFrames, type VideoFileOptions, type VideoFileResult, type VideoProbe,
} from './video.js';

export { createAnalyzer, type Analyzer, type AnalyzerOptions, type AnalyzeOptions } from './analyzer.js';
export { explainImage, explanationPath, renderExplanation, writeExplanation, type ExplainImageOptions, type ExplanationResult, type RenderExplanationOptions, type WriteExplanationOptions } from './explain.js';
