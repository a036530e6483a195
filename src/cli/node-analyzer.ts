/**
 * The CLI's default analyzer: `createAnalyzer` from `ferkit/node`, loaded lazily (so `--help` and usage errors never
 * load ONNX Runtime), after printing the runtime note once on stderr when ferkit runs on the onnxruntime-web fallback.
 */
import type { Analyzer, AnalyzerOptions } from '../node/index.js';

/**
 * Loads the Node runtime, writes its note (if any) to `stderr`, and creates the analyzer.
 * @throws {FerkitError} as `createAnalyzer` and `loadNodeRuntime` do (`E_OPTION`, `E_MODEL_LOAD`, …).
 */
export async function createNodeAnalyzer(options: AnalyzerOptions, stderr: { write(s: string): unknown } = process.stderr): Promise<Analyzer> {
  const node = await import('../node/index.js');
  const runtime = await node.loadNodeRuntime();
  if (runtime.note) stderr.write(`${runtime.note}\n`);
  return node.createAnalyzer(options);
}
