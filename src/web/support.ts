/**
 * What the browser can do, and plain-language messages for what it cannot (camera denied, no camera, old browser).
 */

/** Browser features the app uses. */
export interface BrowserSupport {
  webAssembly: boolean;
  /** WebAssembly SIMD (onnxruntime-web ships only SIMD builds). */
  simd: boolean;
  /** SharedArrayBuffer + cross-origin isolation: multi-threaded WASM. */
  threads: boolean;
  worker: boolean;
  offscreenCanvas: boolean;
  createImageBitmap: boolean;
  /** `navigator.mediaDevices.getUserMedia` (absent on insecure http:// pages other than localhost). */
  camera: boolean;
  webgpu: boolean;
  /** Missing features that stop inference altogether, as sentences. Empty when the app can run. */
  blocking: string[];
}

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): validates only where SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Checks the features the app needs; `blocking` lists the ones whose absence stops it. */
export function checkBrowserSupport(): BrowserSupport {
  const g = globalThis as Record<string, unknown> & { navigator?: Navigator & { gpu?: unknown } };
  const webAssembly = typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function';
  let simd = false;
  try {
    simd = webAssembly && WebAssembly.validate(SIMD_PROBE);
  } catch {
    simd = false;
  }
  const support: BrowserSupport = {
    webAssembly,
    simd,
    threads: typeof SharedArrayBuffer === 'function' && g.crossOriginIsolated === true,
    worker: typeof Worker === 'function',
    offscreenCanvas: typeof OffscreenCanvas === 'function',
    createImageBitmap: typeof createImageBitmap === 'function',
    camera: typeof g.navigator?.mediaDevices?.getUserMedia === 'function',
    webgpu: g.navigator?.gpu !== undefined,
    blocking: [],
  };
  if (!webAssembly) support.blocking.push('WebAssembly is not available');
  else if (!simd) support.blocking.push('WebAssembly SIMD is not supported (needs Chrome/Edge 91+, Firefox 89+ or Safari 16.4+)');
  if (!support.worker) support.blocking.push('Web Workers are not available');
  if (!support.offscreenCanvas) support.blocking.push('OffscreenCanvas is not available (needs Chrome 69+, Firefox 105+ or Safari 16.4+)');
  if (!support.createImageBitmap) support.blocking.push('createImageBitmap is not available');
  return support;
}

/** Why the camera could not be used, in words a person can act on. */
export function cameraErrorMessage(err: unknown): { kind: 'denied' | 'no-camera' | 'busy' | 'unsupported' | 'other'; message: string } {
  const name = (err as { name?: string } | null)?.name ?? '';
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return {
        kind: 'denied',
        message: 'Camera access was denied. Allow the camera for this page (the camera icon in the address bar) and reload. '
          + 'The photo tab works without a camera.',
      };
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return { kind: 'no-camera', message: 'No camera was found. Connect a webcam and reload, or use the photo tab.' };
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return { kind: 'busy', message: 'The camera is in use by another application or could not be started. Close it there and reload.' };
    case 'TypeError':
    case 'NotSupportedError':
      return { kind: 'unsupported', message: 'This browser has no camera API on this page (it needs https:// or http://localhost).' };
    default:
      return { kind: 'other', message: `The camera could not be started: ${(err as Error | null)?.message ?? String(err)}` };
  }
}
