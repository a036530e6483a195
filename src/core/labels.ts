/**
 * Expression labels and label-set projections.
 *
 * `EXPRESSIONS` is the single source of label order: the FER2013 class index order, which every
 * model card's `labels` must equal. Other label sets are projections of the 7 probabilities:
 * merged classes are summed, dropped classes are removed and the rest renormalised to sum to 1.
 */

/** The 7 FER2013 expressions in dataset index order (0 = angry … 6 = neutral). */
export const EXPRESSIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type Expression = (typeof EXPRESSIONS)[number];

/** Valence classes (3-class projection). */
export const VALENCES = ['positive', 'neutral', 'negative'] as const;
export type Valence = (typeof VALENCES)[number];

/** Names of the label sets a result can be projected to. */
export const LABEL_SET_IDS = ['7', '6', '5', '5b', 'valence'] as const;
export type LabelSetId = (typeof LABEL_SET_IDS)[number];

/** A label set: its labels in output order, and where each of the 7 expressions goes (`null` = dropped). */
export interface LabelSet {
  readonly id: LabelSetId;
  readonly labels: readonly string[];
  readonly map: Readonly<Record<Expression, string | null>>;
  readonly description: string;
}

const identity = Object.fromEntries(EXPRESSIONS.map((e) => [e, e])) as Record<Expression, string>;

/**
 * The supported projections:
 * - `7`: the FER2013 classes.
 * - `6`: disgust merged into angry.
 * - `5`: {happy, sad, neutral, fear, angry}: disgust merged into angry, surprise dropped.
 * - `5b`: {angry, happy, sad, surprise, neutral}: disgust merged into angry, fear dropped.
 * - `valence`: positive = happy + surprise; neutral = neutral; negative = angry + disgust + fear + sad.
 */
export const LABEL_SETS: Readonly<Record<LabelSetId, LabelSet>> = {
  '7': { id: '7', labels: EXPRESSIONS, map: identity, description: 'FER2013 7 classes' },
  '6': {
    id: '6',
    labels: ['angry', 'fear', 'happy', 'sad', 'surprise', 'neutral'],
    map: { ...identity, disgust: 'angry' },
    description: '6 classes: disgust merged into angry',
  },
  '5': {
    id: '5',
    labels: ['angry', 'fear', 'happy', 'sad', 'neutral'],
    map: { ...identity, disgust: 'angry', surprise: null },
    description: '5 classes {happy, sad, neutral, fear, angry}: disgust merged into angry, surprise dropped',
  },
  '5b': {
    id: '5b',
    labels: ['angry', 'happy', 'sad', 'surprise', 'neutral'],
    map: { ...identity, disgust: 'angry', fear: null },
    description: '5 classes {angry, happy, sad, surprise, neutral}: disgust merged into angry, fear dropped',
  },
  valence: {
    id: 'valence',
    labels: VALENCES,
    map: {
      angry: 'negative', disgust: 'negative', fear: 'negative', sad: 'negative',
      happy: 'positive', surprise: 'positive', neutral: 'neutral',
    },
    description: 'valence: positive = happy + surprise, negative = angry + disgust + fear + sad',
  },
};

/** Probabilities over the 7 expressions, each in [0, 1], summing to 1. */
export type ExpressionProbabilities = Record<Expression, number>;

/**
 * Projects 7-class probabilities onto a label set (sums merged classes, renormalises after drops).
 * @param probs - probabilities in [0, 1] over {@link EXPRESSIONS}, summing to 1.
 * @returns probabilities over `LABEL_SETS[set].labels`, summing to 1 (in the label set's order).
 */
export function projectProbabilities(probs: ExpressionProbabilities, set: LabelSetId): Record<string, number> {
  const ls = LABEL_SETS[set];
  const out: Record<string, number> = Object.fromEntries(ls.labels.map((l) => [l, 0]));
  let kept = 0;
  for (const e of EXPRESSIONS) {
    const target = ls.map[e];
    if (target === null) continue;
    out[target] = (out[target] ?? 0) + probs[e];
    kept += probs[e];
  }
  if (kept > 0 && kept !== 1) for (const l of ls.labels) out[l] = (out[l] ?? 0) / kept;
  return out;
}

/** The label with the highest probability, and that probability. Ties go to the earlier label. */
export function argmax<T extends string>(probs: Record<T, number>): { label: T; score: number } {
  let label: T | undefined;
  let score = -Infinity;
  for (const [k, v] of Object.entries(probs) as [T, number][]) {
    if (v > score) { label = k; score = v; }
  }
  if (label === undefined) throw new RangeError('argmax of an empty probability record');
  return { label, score };
}

/** Numerically stable softmax of one row of logits. @returns probabilities in [0, 1] summing to 1. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) { out[i] = Math.exp(logits[i]! - max); sum += out[i]!; }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/** Turns a softmax row in {@link EXPRESSIONS} order into a typed record. */
export function toExpressionRecord(row: ArrayLike<number>): ExpressionProbabilities {
  if (row.length !== EXPRESSIONS.length) throw new RangeError(`expected ${EXPRESSIONS.length} values, got ${row.length}`);
  return Object.fromEntries(EXPRESSIONS.map((e, i) => [e, row[i]!])) as ExpressionProbabilities;
}
