/**
 * Server-side image analysis: `createAnalyzer` from `ferkit/node` (the same pipeline as the CLI), one loaded analyzer
 * per option set (a few at most), every call through a {@link Limiter} and under a time limit.
 */
import type { AnalyzerOptions } from '../node/index.js';
import type { LabelSetId } from '../core/labels.js';
import type { ImageAnalysis } from '../core/types.js';
import { Limiter, type LimiterStats } from './limiter.js';
import { HttpProblem } from './problem.js';

/** The part of `ferkit/node`'s Analyzer the server uses. */
export interface ServerAnalyzer {
  analyze(input: Uint8Array, options?: { cropped?: boolean; name?: string }): Promise<ImageAnalysis>;
  dispose(): Promise<void>;
}

/** Creates an analyzer (default: `createAnalyzer` of `ferkit/node`, loaded on first use). Tests pass fakes. */
export type ServerAnalyzerFactory = (options: AnalyzerOptions) => Promise<ServerAnalyzer>;

/** The options of one analysis request (the CLI's `--labels`, `--model`, `--min-face`, `--min-score`, `--cropped`). */
export interface AnalyzeRequestOptions {
  labels?: LabelSetId;
  model?: string;
  minFace?: number;
  minScore?: number;
  cropped?: boolean;
}

/** Options of {@link createInference}. */
export interface InferenceOptions {
  createAnalyzer?: ServerAnalyzerFactory;
  /** Analyses that run at once. */
  workers: number;
  /** Analyses that may wait for a slot; more get 503. */
  queueLimit: number;
  /** Decompression-bomb guard, pixels. */
  maxPixels: number;
  /** Longest analysis (decode + inference) before the answer is 503 `E_TIMEOUT`, ms. */
  timeoutMs: number;
  /** Loaded analyzers kept (one per distinct option set). Default 4. */
  maxAnalyzers?: number;
  /**
   * ONNX Runtime intra-op threads per session. Default 1: the server runs `workers` analyses at once, so its
   * parallelism comes from concurrent requests; several threads per run on top of that oversubscribe the cores
   * (measured on 2 cores with one busy: 40 ms per 640×480 request with ORT's default threads, 13 ms with 1).
   */
  threadsPerAnalysis?: number;
  /** Classifier when a request names none (a bundled id). Default: the library's default (`BUNDLED_CLASSIFIERS.default`, `ferkit-resnet-s-int8-ensemble`). */
  defaultModel?: string;
}

/** Where the time of one analysis went, ms (for the `Server-Timing` header). */
export interface AnalysisTiming {
  /** Waiting for an inference slot. */
  queueMs: number;
}

/** Image analysis for the routes. */
export interface Inference {
  /** Analyses encoded image bytes (decoded with EXIF orientation, pixel limit checked from the header). */
  analyze(bytes: Uint8Array, name: string, options: AnalyzeRequestOptions, timing?: AnalysisTiming): Promise<ImageAnalysis>;
  /** Loads the default analyzer (for /readyz); rejects when the models cannot be loaded. */
  warmUp(): Promise<void>;
  readonly loaded: boolean;
  stats(): LimiterStats;
  /** Waits for running analyses (at most the time limit) and releases every ONNX session. */
  dispose(): Promise<void>;
}

interface Entry { analyzer: Promise<ServerAnalyzer>; inFlight: number; retired: boolean }

const defaultFactory: ServerAnalyzerFactory = async (options) => {
  const { createAnalyzer } = await import('../node/index.js');
  return createAnalyzer(options);
};

/** See the module comment. */
export function createInference(options: InferenceOptions): Inference {
  const factory = options.createAnalyzer ?? defaultFactory;
  const limiter = new Limiter(options.workers, options.queueLimit);
  const entries = new Map<string, Entry>();
  const maxAnalyzers = options.maxAnalyzers ?? 4;
  const threads = options.threadsPerAnalysis ?? 1;
  let loaded = false;

  const release = (entry: Entry): void => {
    if (entry.retired && entry.inFlight === 0) entry.analyzer.then((a) => a.dispose(), () => undefined).catch(() => undefined);
  };
  const acquire = (o: AnalyzeRequestOptions): Entry => {
    const model = o.model ?? options.defaultModel;
    const detector: NonNullable<AnalyzerOptions['detector']> = {};
    if (o.minFace !== undefined) detector.minFacePx = o.minFace;
    if (o.minScore !== undefined) detector.minScore = o.minScore;
    const analyzerOptions: AnalyzerOptions = {
      detector, labels: o.labels ?? '7', maxPixels: options.maxPixels, threads, ...(model ? { classifier: { model } } : {}),
    };
    const key = JSON.stringify(analyzerOptions);
    let entry = entries.get(key);
    if (!entry) {
      if (entries.size >= maxAnalyzers) {
        const [oldKey, old] = entries.entries().next().value as [string, Entry];
        entries.delete(oldKey);
        old.retired = true;
        release(old);
      }
      const analyzer = factory(analyzerOptions);
      entry = { analyzer, inFlight: 0, retired: false };
      entries.set(key, entry);
      analyzer.then(() => { loaded = true; }, () => entries.delete(key));
    } else {
      entries.delete(key); // most recently used last
      entries.set(key, entry);
    }
    return entry;
  };

  return {
    get loaded() { return loaded; },
    analyze(bytes, name, o, timing) {
      // The answer may give up on a timeout, but the slot stays taken until the work really ends, so the limit holds.
      const queuedAt = performance.now();
      return new Promise<ImageAnalysis>((resolve, reject) => {
        limiter.run(async () => {
          if (timing) timing.queueMs = performance.now() - queuedAt;
          const entry = acquire(o);
          entry.inFlight++;
          const timer = setTimeout(() => reject(new HttpProblem(503, 'E_TIMEOUT',
            `analysis of ${name} took longer than ${options.timeoutMs} ms; retry later or send a smaller image`, { 'Retry-After': '5' })), options.timeoutMs);
          try {
            const analyzer = await entry.analyzer;
            resolve(await analyzer.analyze(bytes, { cropped: o.cropped ?? false, name }));
          } catch (err) {
            reject(err);
          } finally {
            clearTimeout(timer);
            entry.inFlight--;
            release(entry);
          }
        }).catch(reject);
      });
    },
    async warmUp() {
      await acquire({}).analyzer;
    },
    stats: () => limiter.stats(),
    async dispose() {
      // Analyses whose clients went away (or timed out) may still run: let them end first (at most the time limit),
      // so that no session is released, and no analysis thread stopped, in the middle of a run.
      const all = [...entries.values()];
      const until = Date.now() + options.timeoutMs + 1000;
      while (all.some((e) => e.inFlight > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      entries.clear();
      await Promise.all(all.map((e) => e.analyzer.then((a) => a.dispose(), () => undefined)));
    },
  };
}
