/**
 * The web app's pure parts, in Node: the monitoring session (negative-streak notices, exports), CSV writing and the
 * rolling timeline.
 */
import { describe, expect, test } from 'vitest';
import { EXPRESSIONS, type Expression, type ExpressionProbabilities } from '../../src/core/labels.js';
import type { LiveFace, LiveFrame } from '../../src/web/live.js';
import { csvField, photosToCsv, toCsv, PHOTO_CSV_HEADER } from '../../web/src/csv.js';
import { MonitorSession } from '../../web/src/session.js';
import { RollingTimeline } from '../../web/src/timeline.js';
import { OK_QUALITY } from '../helpers/faces.js';

function probs(top: Expression, p = 0.8): ExpressionProbabilities {
  const rest = (1 - p) / (EXPRESSIONS.length - 1);
  return Object.fromEntries(EXPRESSIONS.map((e) => [e, e === top ? p : rest])) as ExpressionProbabilities;
}

const valenceOfTop: Record<Expression, 'positive' | 'neutral' | 'negative'> = {
  angry: 'negative', disgust: 'negative', fear: 'negative', sad: 'negative', happy: 'positive', surprise: 'positive', neutral: 'neutral',
};

function face(trackId: number, label: Expression): LiveFace {
  const p = probs(label);
  const score = (p.happy + p.surprise) - (p.angry + p.disgust + p.fear + p.sad);
  return {
    box: { x: 10 * trackId, y: 20, width: 100, height: 120 },
    keypoints: {} as LiveFace['keypoints'],
    score: 0.9,
    probabilities: p,
    label,
    labelScore: 0.8,
    valence: valenceOfTop[label],
    valenceScore: score,
    quality: OK_QUALITY,
    trackId,
    boxSource: 'detected',
    smoothed: { probabilities: p, label, labelScore: 0.8, valence: valenceOfTop[label], valenceScore: score },
    displayLabel: label,
    displayScore: 0.8,
    displayUncertain: false,
  };
}

function frame(tMs: number, faces: LiveFace[]): LiveFrame {
  return {
    frameIndex: 0, timestampMs: tMs, width: 640, height: 480, detectorRan: true, labelSet: '7', faces,
    timingsMs: { detect: 1, classify: 1, track: 0, total: 2 },
  };
}

describe('monitoring session', () => {
  test('raises one notice when a person stays negative longer than the threshold', () => {
    const s = new MonitorSession({ negativeThresholdS: 2 }, 1000, Date.UTC(2024, 0, 1));
    const raised = [];
    for (let t = 0; t <= 5000; t += 100) raised.push(...s.add(frame(1000 + t, [face(1, 'sad'), face(2, 'happy')])));
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ trackId: 1, tMs: 2000, negativeForMs: 2000, thresholdS: 2 });
    expect(raised[0]!.message).toMatch(/Person 1 .*negative.*2\.0 s/);
    const p1 = s.people.get(1)!;
    expect(p1.observedMs).toBe(5000);
    expect(p1.negativeMs).toBe(5000);
    expect(p1.longestNegativeMs).toBe(5000);
    expect(s.people.get(2)!.negativeMs).toBe(0);
  });

  test('a non-negative frame ends the streak; a new streak can notify again', () => {
    const s = new MonitorSession({ negativeThresholdS: 1 }, 0, 0);
    const labels: Expression[] = [...Array(15).fill('angry'), 'neutral', ...Array(15).fill('fear')];
    const raised = labels.flatMap((l, i) => s.add(frame(i * 100, [face(3, l)])));
    expect(raised.map((n) => n.tMs)).toEqual([1000, 2600]);
  });

  test('a person unseen for longer than gapMs starts a new streak', () => {
    const s = new MonitorSession({ negativeThresholdS: 1, gapMs: 1000 }, 0, 0);
    s.add(frame(0, [face(1, 'sad')]));
    s.add(frame(1500, [face(1, 'sad')])); // unseen for 1.5 s: the streak restarts here
    expect(s.add(frame(2400, [face(1, 'sad')]))).toEqual([]);
    expect(s.add(frame(2500, [face(1, 'sad')]))).toHaveLength(1);
    expect(s.people.get(1)!.observedMs).toBe(1000); // 1500→2400→2500; the 1.5 s gap is not counted
  });

  test('lowering the threshold applies to the running streak', () => {
    const s = new MonitorSession({ negativeThresholdS: 60 }, 0, 0);
    for (let t = 0; t <= 3000; t += 500) expect(s.add(frame(t, [face(1, 'sad')]))).toEqual([]);
    s.setThreshold(2);
    expect(s.add(frame(3500, [face(1, 'sad')]))).toHaveLength(1);
    expect(() => s.setThreshold(0)).toThrow(RangeError);
  });

  test('stop ends recording; exports hold people, group valence and notices', () => {
    const s = new MonitorSession({ negativeThresholdS: 1, sampleEveryMs: 500 }, 0, Date.UTC(2024, 0, 1, 12));
    for (let t = 0; t <= 2000; t += 100) s.add(frame(t, [face(1, 'sad'), face(2, 'happy')]));
    s.stop(2100);
    expect(s.add(frame(2200, [face(1, 'sad')]))).toEqual([]);
    const json = s.toJSON();
    expect(json.format).toBe('ferkit-session/1');
    expect(json.startedAt).toBe('2024-01-01T12:00:00.000Z');
    expect(json.endedAt).toBe('2024-01-01T12:00:02.100Z');
    expect(json.durationMs).toBe(2100);
    expect(json.people.map((p) => p.trackId)).toEqual([1, 2]);
    expect(json.people[0]!.samples.map((x) => x.tMs)).toEqual([0, 500, 1000, 1500, 2000]);
    expect(json.group).toHaveLength(5);
    expect(json.group[0]!.faces).toBe(2);
    expect(json.notices).toHaveLength(1);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);

    const lines = s.toCSV().trimEnd().split('\r\n');
    expect(lines[0]).toBe('t_ms,time,track_id,label,label_score,valence,valence_score,raw_label,x,y,width,height,'
      + EXPRESSIONS.map((e) => `p_${e}`).join(','));
    expect(lines).toHaveLength(1 + 10);
    expect(lines[1]).toMatch(/^0,2024-01-01T12:00:00.000Z,1,sad,0.8,negative,/);
    expect(lines[2]).toMatch(/^0,2024-01-01T12:00:00.000Z,2,happy,0.8,positive,/);
  });

  test('BAD INPUT: a threshold of 0 is refused', () => {
    expect(() => new MonitorSession({ negativeThresholdS: 0 }, 0, 0)).toThrow(/negativeThresholdS/);
  });
});

describe('CSV', () => {
  test('quotes only fields that need it, numbers at full precision', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(csvField(null)).toBe('');
    expect(toCsv([['a', 1], ['b', 2]])).toBe('a,1\r\nb,2\r\n');
  });

  test('photo CSV: one row per face, one empty row for no face, the error for a failed file', () => {
    const p = probs('happy');
    const csv = photosToCsv([
      { file: 'two,faces.jpg', ok: true, result: {
        source: 'two,faces.jpg', width: 10, height: 10, models: { detector: 'd', classifier: 'c' },
        timingsMs: { decode: 0, detect: 0, classify: 0, total: 0 },
        faces: [0, 1].map((i) => ({ ...face(i + 1, 'happy'), trackId: undefined, probabilities: p })) as never,
      } },
      { file: 'none.jpg', ok: true, result: {
        source: 'none.jpg', width: 10, height: 10, faces: [], models: { detector: 'd', classifier: 'c' },
        timingsMs: { decode: 0, detect: 0, classify: 0, total: 0 },
      } },
      { file: 'bad.jpg', ok: false, error: { code: 'E_DECODE', message: 'cannot decode' } },
    ]);
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(PHOTO_CSV_HEADER.join(','));
    expect(lines).toHaveLength(5);
    expect(lines[1]).toBe(`"two,faces.jpg",0,10,20,100,120,0.9,happy,0.8,positive,${EXPRESSIONS.map((e) => p[e]).join(',')},,`);
    expect(lines[2]!.startsWith('"two,faces.jpg",1,')).toBe(true);
    expect(lines[3]).toBe(`none.jpg${','.repeat(PHOTO_CSV_HEADER.length - 1)}`);
    expect(lines[4]).toBe(`bad.jpg${','.repeat(PHOTO_CSV_HEADER.length - 3)},E_DECODE,cannot decode`);
  });
});

describe('rolling timeline', () => {
  test('keeps the last window, aligned per track with gaps as null', () => {
    const tl = new RollingTimeline(2, 100);
    for (let t = 0; t <= 3000; t += 50) tl.push(frame(1000 + t, t < 2000 ? [face(1, 'happy')] : [face(1, 'happy'), face(2, 'sad')]));
    const d = tl.data();
    expect(d.xs[0]).toBeCloseTo(1.0, 5);
    expect(d.xs[d.xs.length - 1]).toBeCloseTo(3.0, 5);
    expect([...d.tracks.keys()]).toEqual([1, 2]);
    const t2 = d.tracks.get(2)!;
    expect(t2[0]).toBeNull();
    expect(t2[t2.length - 1]).toBeLessThan(0);
    const last = d.xs.length - 1;
    expect(d.group[last]).toBeCloseTo((d.tracks.get(1)![last]! + t2[last]!) / 2, 10); // the group is the mean of the faces
  });
});
