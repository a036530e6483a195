/**
 * The app's pure helpers for its controls: the threshold field's check (a message, never a silent reset) and the
 * text colour on track/expression colours (WCAG contrast).
 */
import { describe, expect, test } from 'vitest';
import { EXPRESSION_COLORS, luminance, textOn } from '../../web/src/ui.js';
import { parseThreshold } from '../../web/src/validate.js';

const contrast = (a: string, b: string): number => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
};

describe('parseThreshold', () => {
  test('whole seconds from 1 to 3600 pass', () => {
    expect(parseThreshold('10')).toEqual({ ok: true, value: 10 });
    expect(parseThreshold(' 3600 ')).toEqual({ ok: true, value: 3600 });
    expect(parseThreshold('1')).toEqual({ ok: true, value: 1 });
  });

  test('BAD INPUT: out of range, fractional, empty and non-numbers get a message naming the range', () => {
    for (const bad of ['99999', '0', '-5', '3601']) expect(parseThreshold(bad)).toMatchObject({ ok: false, message: /out of range: enter 1 to 3600 seconds/ });
    expect(parseThreshold('2.5')).toMatchObject({ ok: false, message: /whole seconds/ });
    expect(parseThreshold('')).toMatchObject({ ok: false, message: /from 1 to 3600/ });
    expect(parseThreshold('ten')).toMatchObject({ ok: false, message: /"ten" is not a number/ });
  });
});

describe('textOn', () => {
  test('chip text on every track and expression colour reaches 4.5:1 (the issue found white on #e5484d at 3.9:1)', () => {
    const palette = [...Object.values(EXPRESSION_COLORS), '#0091ff', '#e5484d', '#30a46c', '#f5b400', '#8e4ec6', '#f07b21', '#12a594', '#d6409f', '#6e56cf', '#a18072'];
    for (const bg of palette) expect(contrast(textOn(bg) === '#000' ? '#000000' : '#ffffff', bg), bg).toBeGreaterThanOrEqual(4.5);
    expect(textOn('#e5484d')).toBe('#000');
  });
});
