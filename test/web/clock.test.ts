/**
 * The app's analysis clock with the real tracker: a face that stays in view keeps its track id across a warm-up stall,
 * a trip to the Photos tab and a hidden browser tab, which the page's raw `performance.now()` would turn into new ids.
 */
import { describe, expect, test } from 'vitest';
import { FaceTracker } from '../../src/core/tracker.js';
import { AnalysisClock } from '../../web/src/clock.js';

const face = { box: { x: 200, y: 120, width: 160, height: 160 } };

/** Page times (ms) of frames as the app sends them: 30 fps, with pauses of `gaps` (start → length) where none is sent. */
function pageTimes(durationMs: number, gaps: [number, number][]): number[] {
  const out: number[] = [];
  for (let t = 1000; t < durationMs; t += 33) {
    const gap = gaps.find(([s, len]) => t >= s && t < s + len);
    if (gap) {
      t = gap[0] + gap[1];
    }
    out.push(t);
  }
  return out;
}

function idsSeen(times: number[], toTracker: (pageMs: number) => number): Set<number> {
  const tracker = new FaceTracker();
  const ids = new Set<number>();
  for (const t of times) for (const a of tracker.update([face], toTracker(t)).assigned) ids.add(a.trackId);
  return ids;
}

describe('AnalysisClock', () => {
  // a 3 s warm-up stall after the 2nd frame, 20 s on the Photos tab, 2 min in a hidden browser tab
  const times = pageTimes(200_000, [[1040, 3000], [30_000, 20_000], [60_000, 120_000]]);

  test('two frames stamped 0.1 ms apart do not throw the motion model off (the tracker ignores motion under 20 ms; so does the clock)', () => {
    // A face drifting right by 1 px per 33 ms frame, with ±3 px detector jitter; frames 3 and 4 stamped 0.1 ms apart.
    const times = [0, 33, 66, 66.1, 99, 132, 165, 198];
    const boxes = times.map((_, i) => ({ box: { x: 200 + i + (i % 2 ? 3 : -3), y: 120, width: 160, height: 160 } }));
    const run = (stamp: (t: number) => number): Set<number> => {
      const tracker = new FaceTracker();
      const ids = new Set<number>();
      times.forEach((t, i) => { for (const a of tracker.update([boxes[i]!], stamp(t)).assigned) ids.add(a.trackId); });
      return ids;
    };
    // raw stamps: the tracker's own guard (MIN_MOTION_DT_MS) leaves the velocity alone for the 0.1 ms pair
    expect(run((t) => t)).toEqual(new Set([1]));
    const clock = new AnalysisClock();
    expect(run((t) => clock.frame(t))).toEqual(new Set([1]));
  });

  test('one id for one face across stalls and pauses (page time alone gives four)', () => {
    expect(idsSeen(times, (t) => t).size).toBe(4);
    const clock = new AnalysisClock();
    expect(idsSeen(times, (t) => clock.frame(t))).toEqual(new Set([1]));
    expect(clock.cutMs).toBeGreaterThan(140_000);
  });

  test('steps are between minStepMs and maxStepMs; results map back to page time', () => {
    const clock = new AnalysisClock({ maxStepMs: 200 });
    let prev = -Infinity;
    const sent: [number, number][] = [];
    for (const t of [100, 100, 133, 5000, 5033, 5033.0001]) {
      const a = clock.frame(t);
      if (prev !== -Infinity) {
        expect(a - prev).toBeGreaterThanOrEqual(15 - 1e-9);
        expect(a - prev).toBeLessThanOrEqual(200);
      }
      prev = a;
      sent.push([a, t]);
    }
    for (const [a, t] of sent) expect(clock.toPageMs(a)).toBe(t);
    expect(clock.toPageMs(prev + 10)).toBeCloseTo(prev + 10 + clock.cutMs, 6); // unknown frame: by the current offset
  });

  test('BAD CALL: a non-positive maxStepMs is a RangeError', () => {
    expect(() => new AnalysisClock({ maxStepMs: 0 })).toThrow(RangeError);
    expect(() => new AnalysisClock({ maxStepMs: Number.NaN })).toThrow(/maxStepMs must be a positive number/);
    expect(() => new AnalysisClock({ maxStepMs: 100, minStepMs: 200 })).toThrow(/minStepMs must be .* up to maxStepMs/);
  });
});
