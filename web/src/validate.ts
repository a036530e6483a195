/** Checks of the page's numeric inputs (pure, unit-tested in Node). */

/** The negative-streak threshold, s: a whole number in this range. */
export const THRESHOLD_RANGE = { min: 1, max: 3600 } as const;

/**
 * Checks the threshold field's text. Returns the number, or a message saying what is wrong (the field is never
 * silently reset).
 */
export function parseThreshold(text: string): { ok: true; value: number } | { ok: false; message: string } {
  const t = text.trim();
  const { min, max } = THRESHOLD_RANGE;
  if (t === '') return { ok: false, message: `Enter a number of seconds from ${min} to ${max}.` };
  const v = Number(t);
  if (!Number.isFinite(v)) return { ok: false, message: `"${t}" is not a number: enter seconds from ${min} to ${max}.` };
  if (!Number.isInteger(v)) return { ok: false, message: `Use whole seconds (from ${min} to ${max}), not ${t}.` };
  if (v < min || v > max) return { ok: false, message: `${v} s is out of range: enter ${min} to ${max} seconds (up to an hour).` };
  return { ok: true, value: v };
}
