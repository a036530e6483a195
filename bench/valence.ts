/**
 * Valence on real photos and a talking-head video, old rule against new (issue: outputs people can trust, item 1).
 *
 *   npm run build && node dist/bench/valence.js [--media ../shared/media] [--model ferkit-resnet-s]
 *
 * Old rule: the argmax of the 3-class projection (positive = happy + surprise, neutral, negative = the other four).
 * New rule: thresholds on the expected valence (`valenceOf` in src/core/valence.ts). Per face it records the top-1 label
 * and both valences; it counts how often a top-1 "happy" face was called negative, and how often the valence disagrees
 * with the valence class of the face's own top-1 label. Inputs: the six face-api sample photos (shipped in node_modules),
 * the photos in `--media` (when present) and, from `--media`/test.mp4, the smoothed per-frame probabilities of
 * `createVideoAnalyzer` at 5 fps (the valence of the smoothed distribution is what video outputs show).
 * Writes results/valence-real.json.
 */
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPRESSIONS, LABEL_SETS, argmax, projectProbabilities, type ExpressionProbabilities, type Valence } from '../src/core/labels.js';
import { valenceOf } from '../src/core/valence.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { analyzeVideoFile } from '../src/node/video.js';
import { packageRoot } from '../src/node/models.js';
import { benchArgs } from './args.js';

const root = packageRoot();
const { values: args } = benchArgs(import.meta.url, {
  options: {
    media: { type: 'string', default: join(root, '..', 'shared', 'media') },
    model: { type: 'string', default: 'ferkit-resnet-s' },
  },
});
const oldRule = (p: ExpressionProbabilities): Valence => argmax(projectProbabilities(p, 'valence')).label as Valence;
interface Tally { faces: number; happyTop: number; happyNegativeOld: number; happyNegativeNew: number; disagreeOld: number; disagreeNew: number; negativeOld: number; negativeNew: number }
const tally = (): Tally => ({ faces: 0, happyTop: 0, happyNegativeOld: 0, happyNegativeNew: 0, disagreeOld: 0, disagreeNew: 0, negativeOld: 0, negativeNew: 0 });
function add(t: Tally, p: ExpressionProbabilities): void {
  const top = argmax(p).label;
  const own = LABEL_SETS.valence.map[top] as Valence;
  const o = oldRule(p);
  const n = valenceOf(p);
  t.faces++;
  if (top === 'happy') { t.happyTop++; if (o === 'negative') t.happyNegativeOld++; if (n === 'negative') t.happyNegativeNew++; }
  if (o !== own) t.disagreeOld++;
  if (n !== own) t.disagreeNew++;
  if (o === 'negative') t.negativeOld++;
  if (n === 'negative') t.negativeNew++;
}

const analyzer = await createAnalyzer({ classifier: { model: args.model! } });
const photos = tally();
const samples = join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');
const files = [
  ...readdirSync(samples).filter((f) => /^sample\d\.jpg$/.test(f)).map((f) => join(samples, f)),
  ...(existsSync(args.media!) ? readdirSync(args.media!).filter((f) => /\.jpe?g$/i.test(f)).map((f) => join(args.media!, f)) : []),
];
const perFace: { file: string; label: string; labelScore: number; old: Valence; new: Valence; valenceScore: number }[] = [];
for (const f of files) {
  const r = await analyzer.analyze(f);
  for (const face of r.faces) {
    add(photos, face.probabilities);
    perFace.push({ file: f.slice(root.length - 4), label: face.label, labelScore: face.labelScore, old: oldRule(face.probabilities), new: face.valence, valenceScore: face.valenceScore });
  }
}
await analyzer.dispose();

const video = tally();
const clip = join(args.media!, 'test.mp4');
let videoNote = 'no test.mp4 in --media';
if (existsSync(clip)) {
  let frames = 0;
  await analyzeVideoFile(clip, { fps: 5, classifier: { model: args.model! }, onFrame: (frame) => {
    frames++;
    for (const f of frame.faces) add(video, f.smoothed.probabilities);
  } });
  videoNote = `test.mp4 at 5 fps, smoothed probabilities (${frames} frames)`;
}
const out = { model: args.model, photos: { files: files.length, ...photos }, video: { note: videoNote, ...video }, perFace, labels: EXPRESSIONS, createdAt: new Date().toISOString() };
const path = join(root, 'results', 'valence-real.json');
writeFileSync(`${path}.tmp`, JSON.stringify(out, null, 2) + '\n');
renameSync(`${path}.tmp`, path);
console.log(JSON.stringify({ photos: out.photos, video: out.video }, null, 1));
