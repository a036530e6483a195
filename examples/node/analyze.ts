/**
 * ferkit in a Node program: find the faces in one photo and print each one's expression.
 *
 *   npm install ferkit typescript @types/node
 *   npx tsc -p .            (or run it with any TypeScript runner)
 *   node analyze.js photo.jpg
 *
 * Prints one line per face and, last, one JSON line with the whole result (what the pack test reads).
 * Exit code 0 when the photo was analysed (even with no face in it), 1 on an error, 2 on bad usage.
 */
import { EXPRESSIONS, FerkitError, type FaceAnalysis } from 'ferkit';
import { createAnalyzer } from 'ferkit/node';

const photo = process.argv[2];
if (!photo) {
  console.error('usage: node analyze.js <photo.jpg|png|webp>');
  process.exit(2);
}

/** "happy 0.91 (positive) at 120,80 64×64": the top expression, its probability and the box in image pixels. */
function describe(face: FaceAnalysis): string {
  const { x, y, width, height } = face.box;
  const runnerUp = EXPRESSIONS.filter((e) => e !== face.label).sort((a, b) => face.probabilities[b] - face.probabilities[a])[0];
  return `${face.label} ${face.labelScore.toFixed(2)} (${face.valence}; next: ${runnerUp}) at ${Math.round(x)},${Math.round(y)} `
    + `${Math.round(width)}×${Math.round(height)} px`;
}

// Models load once (about 0.2 s); analyse as many images as you like with the same analyzer, then release it.
const analyzer = await createAnalyzer({ detector: { model: 'auto', minScore: 0.55 }, labels: 'valence' });
try {
  const result = await analyzer.analyze(photo);
  console.log(`${result.source}: ${result.width}×${result.height}, ${result.faces.length} face(s) in ${result.timingsMs.total.toFixed(0)} ms`);
  result.faces.forEach((face, i) => console.log(`  ${i + 1}. ${describe(face)}`));
  console.log(JSON.stringify({ source: result.source, faces: result.faces.map((f) => ({ label: f.label, score: f.labelScore, box: f.box })) }));
} catch (err) {
  // Every failure ferkit reports is a FerkitError with a stable code (E_DECODE, E_INPUT_READ, E_MODEL_LOAD, ...).
  if (err instanceof FerkitError) {
    console.error(`${err.code}: ${err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
} finally {
  await analyzer.dispose();
}
