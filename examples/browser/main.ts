/**
 * ferkit in a web page: load the analyzer once, then analyse photos in the tab and draw a box and label per face.
 * `?photo=<url>` analyses that (same-origin) picture at once; otherwise pick a file. The last result is also put on
 * `window.ferkitResult` (the pack test reads it).
 */
import * as ort from 'onnxruntime-web/wasm';
import { createFrameGrabber, createWebAnalyzer, FerkitError, type ImageAnalysis } from 'ferkit/web';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const img = $<HTMLImageElement>('photo');

// modelsUrl and wasmPaths are where vite.config.ts publishes ferkit's models (+ manifest.json) and ORT's WASM files.
const analyzer = await createWebAnalyzer(ort, { modelsUrl: './models/', wasmPaths: './ort/', backend: 'wasm' });
status.textContent = `ready: ${analyzer.info.models.classifier} on ${analyzer.info.backend}, loaded in ${analyzer.info.loadMs.toFixed(0)} ms`;
const grabber = createFrameGrabber();

function show(result: ImageAnalysis): void {
  const stage = $<HTMLDivElement>('stage');
  stage.querySelectorAll('.box').forEach((b) => b.remove());
  const k = img.clientWidth / result.width; // boxes are in image pixels
  for (const f of result.faces) {
    const div = document.createElement('div');
    div.className = 'box';
    Object.assign(div.style, { left: `${f.box.x * k}px`, top: `${f.box.y * k}px`, width: `${f.box.width * k}px`, height: `${f.box.height * k}px` });
    div.innerHTML = `<span>${f.label} ${(f.labelScore * 100).toFixed(0)}%</span>`;
    stage.append(div);
  }
  $('result').textContent = JSON.stringify(result.faces.map((f) => ({ label: f.label, score: +f.labelScore.toFixed(3), valence: f.valence })), null, 1);
  (window as unknown as { ferkitResult: ImageAnalysis }).ferkitResult = result;
}

async function analyse(url: string, name: string): Promise<void> {
  img.src = url;
  await img.decode();
  try {
    const result = await analyzer.analyzeImage(grabber.grab(img), name);
    status.textContent = `${name}: ${result.faces.length} face(s) in ${result.timingsMs.total.toFixed(0)} ms`;
    show(result);
  } catch (err) {
    status.textContent = err instanceof FerkitError ? `${err.code}: ${err.message}` : String(err);
  }
}

$<HTMLInputElement>('file').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void analyse(URL.createObjectURL(file), file.name);
});
const param = new URLSearchParams(location.search).get('photo');
if (param) void analyse(param, param);
