// The loss-curve SVG: well-formed XML (checked by a small parser below), one
// polyline per series with every point inside the plot area and where the
// axes say it is, nice ticks with labels, escaped text, non-finite losses
// left out.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_AREA, lineChartSvg, lossCurveSvg, niceScale, tickStep } from '../../lib/train/plot.ts';

interface Element {
  name: string;
  attributes: Record<string, string>;
  children: Element[];
  text: string;
}

/** A strict little XML parser for what an SVG file may hold: elements, quoted attributes, escaped text. Throws on anything malformed. */
function parseXml(xml: string): Element {
  const entity = /&(amp|lt|gt|quot|apos|#\d+);/g;
  const checkText = (text: string, where: string) => {
    if (/[<>]/.test(text) || /&/.test(text.replace(entity, ''))) throw new Error(`unescaped character in ${where}: ${JSON.stringify(text)}`);
    return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  };
  const root: Element = { name: '#document', attributes: {}, children: [], text: '' };
  const stack = [root];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/y;
  let at = 0;
  while (at < xml.length) {
    const next = xml.indexOf('<', at);
    const text = xml.slice(at, next === -1 ? xml.length : next);
    stack[stack.length - 1].text += checkText(text, `text of <${stack[stack.length - 1].name}>`);
    if (next === -1) break;
    tag.lastIndex = next;
    const m = tag.exec(xml);
    if (m === null) throw new Error(`malformed tag at ${next}: ${xml.slice(next, next + 40)}`);
    const [, closing, name, attributeText, selfClosing] = m;
    if (closing) {
      const open = stack.pop()!;
      if (open.name !== name || attributeText !== '' || selfClosing) throw new Error(`</${name}> closes <${open.name}>`);
    } else {
      const attributes: Record<string, string> = {};
      for (const [, key, value] of attributeText.matchAll(/([\w:-]+)="([^"]*)"/g)) {
        if (key in attributes) throw new Error(`attribute ${key} twice on <${name}>`);
        attributes[key] = checkText(value, `${name}@${key}`);
      }
      const element: Element = { name, attributes, children: [], text: '' };
      stack[stack.length - 1].children.push(element);
      if (!selfClosing) stack.push(element);
    }
    at = tag.lastIndex;
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (root.children.length !== 1 || root.text.trim() !== '') throw new Error('a document has exactly one root element');
  return root.children[0];
}

const all = (e: Element): Element[] => [e, ...e.children.flatMap(all)];
const points = (polyline: Element) => polyline.attributes.points.split(' ').map((p) => p.split(',').map(Number) as [number, number]);

describe('the XML checker used here', () => {
  test('rejects what is not well-formed', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow(/closes/);
    expect(() => parseXml('<svg><g>')).toThrow(/never closed/);
    expect(() => parseXml('<svg a=1/>')).toThrow(/malformed/);
    expect(() => parseXml('<svg><text>a < b</text></svg>')).toThrow(/malformed|unescaped/);
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow(/unescaped/);
    expect(() => parseXml('<svg/><svg/>')).toThrow(/one root/);
    expect(parseXml('<svg x="1"><text>a &amp; b</text></svg>').children[0].text).toBe('a & b');
  });
});

describe('loss curve', () => {
  const train: [number, number][] = [
    [1, 5],
    [2, 4],
    [3, 3.5],
    [10, 1],
  ];
  const evaluation: [number, number][] = [
    [5, 3],
    [10, 2],
  ];
  const svg = parseXml(lossCurveSvg(train, evaluation, { width: 600, height: 400 }));
  const area = DEFAULT_AREA(600, 400);

  test('one polyline per series; every point inside the plot area, where the axes put it', () => {
    expect(svg.name).toBe('svg');
    expect(svg.attributes).toMatchObject({ xmlns: 'http://www.w3.org/2000/svg', width: '600', height: '400', viewBox: '0 0 600 400' });
    const lines = all(svg).filter((e) => e.name === 'polyline');
    expect(lines.map((l) => l.attributes['data-name'])).toEqual(['train loss', 'eval loss']);
    expect(lines.map((l) => l.attributes.stroke)).toEqual(['#1f77b4', '#ff7f0e']);
    const [trainPoints, evalPoints] = lines.map(points);
    expect(trainPoints).toHaveLength(4);
    expect(evalPoints).toHaveLength(2);
    for (const [x, y] of [...trainPoints, ...evalPoints]) {
      expect(x).toBeGreaterThanOrEqual(area.left);
      expect(x).toBeLessThanOrEqual(area.right);
      expect(y).toBeGreaterThanOrEqual(area.top);
      expect(y).toBeLessThanOrEqual(area.bottom);
    }
    // x: steps 0..10 across the area; y: losses 1..5 from the bottom up.
    const w = area.right - area.left;
    const h = area.bottom - area.top;
    expect(trainPoints[0][0]).toBeCloseTo(area.left + 0.1 * w, 1);
    expect(trainPoints[0][1]).toBeCloseTo(area.top, 1);
    expect(trainPoints[3]).toEqual([area.right, area.bottom]);
    expect(evalPoints[0][1]).toBeCloseTo(area.top + 0.5 * h, 1);
    expect(all(svg).filter((e) => e.name === 'circle')).toHaveLength(2); // eval points are marked
  });

  test('axes with ticks and labels, a title and a legend', () => {
    const labels = all(svg).find((e) => e.attributes.class === 'tick-labels')!.children.map((e) => e.text);
    expect(labels).toEqual(['0', '2', '4', '6', '8', '10', '1', '2', '3', '4', '5']);
    const texts = all(svg)
      .filter((e) => e.name === 'text')
      .map((e) => e.text);
    expect(texts).toEqual(expect.arrayContaining(['Loss', 'step', 'loss (mean cross-entropy per token)', 'train loss', 'eval loss']));
    const axes = all(svg).find((e) => e.attributes.class === 'axes')!.children;
    expect(axes).toHaveLength(2 + 6 + 5); // two axis lines, a tick mark per tick
  });

  test('text is escaped; non-finite points are off the line but marked and counted; empty series draw nothing', () => {
    const doc = parseXml(
      lineChartSvg(
        [
          { name: 'a<b & "c"', points: [[1, NaN], [2, Infinity], [3, 2], [4, 1]], color: 'red' },
          { name: 'empty', points: [], color: 'blue' },
        ],
        { title: 'x < y & z' },
      ),
    );
    const lines = all(doc).filter((e) => e.name === 'polyline');
    expect(lines).toHaveLength(1);
    expect(lines[0].attributes['data-name']).toBe('a<b & "c"');
    expect(points(lines[0])).toHaveLength(2);
    expect(all(doc).filter((e) => e.attributes.class === 'non-finite')).toHaveLength(2);
    expect(all(doc).filter((e) => e.attributes.class === 'non-finite-note').map((e) => e.text)).toEqual([
      'a<b & "c": 2 non-finite values (NaN or infinite) at x = 1, 2, marked × at the top',
    ]);
    expect(all(doc).some((e) => e.name === 'text' && e.text === 'x < y & z')).toBe(true);
    expect(all(parseXml(lineChartSvg([]))).filter((e) => e.name === 'polyline')).toHaveLength(0);
    // A single point (one logged step) still gets axes around it.
    const single = parseXml(lossCurveSvg([[1, 2.5]], []));
    const [[x, y]] = points(all(single).find((e) => e.name === 'polyline')!);
    const a = DEFAULT_AREA(720, 420);
    expect(x).toBeGreaterThan(a.left);
    expect(x).toBeLessThan(a.right);
    expect(y).toBeGreaterThan(a.top);
    expect(y).toBeLessThan(a.bottom);
  });
});

describe('a diverged loss', () => {
  test('NaN steps break the line, get an × at their step along the top, and a note; the scale comes from the finite points', () => {
    // JSON has no NaN: a loss read back from the log is null, which counts as not finite too
    const train: [number, number][] = [[1, 3], [2, 2.5], [3, NaN], [4, null as unknown as number], [5, 2], [6, 1.5]];
    const doc = parseXml(lossCurveSvg(train, []));
    const lines = all(doc).filter((e) => e.name === 'polyline');
    expect(lines.map((l) => points(l).length)).toEqual([2, 2]); // steps 1-2 and 5-6: no line across 3-4
    const a = DEFAULT_AREA(720, 420);
    const crosses = all(doc).filter((e) => e.attributes.class === 'non-finite');
    expect(crosses).toHaveLength(2);
    const crossX = crosses.map((c) => Number(/^M([\d.]+),/.exec(c.attributes.d)![1]) + 4);
    const lineX = lines.flatMap((l) => points(l).map(([x]) => x));
    // the crosses sit between the line's second and third points, at steps 3 and 4, at the top of the plot area
    expect(crossX[0]).toBeGreaterThan(lineX[1]);
    expect(crossX[1]).toBeLessThan(lineX[2]);
    for (const c of crosses) expect(Number(/,([\d.]+)L/.exec(c.attributes.d)![1])).toBeLessThan(a.top + 12);
    const note = all(doc).find((e) => e.attributes.class === 'non-finite-note')!;
    expect(note.text).toBe('train loss: 2 non-finite values (NaN or infinite) at x = 3, 4, marked × at the top');
  });

  test('a run that is NaN from its first step still says so', () => {
    const doc = parseXml(lossCurveSvg([[1, NaN], [2, NaN]], []));
    expect(all(doc).filter((e) => e.name === 'polyline')).toHaveLength(0);
    expect(all(doc).filter((e) => e.attributes.class === 'non-finite')).toHaveLength(2);
    expect(all(doc).find((e) => e.attributes.class === 'non-finite-note')!.text).toContain('train loss: 2 non-finite values');
  });
});

describe('nice scales', () => {
  test('examples', () => {
    expect(niceScale(0.123, 0.987)).toMatchObject({ lo: 0, hi: 1, step: 0.2 });
    expect(niceScale(1, 10).ticks).toEqual([0, 2, 4, 6, 8, 10]);
    const flat = niceScale(3, 3); // widened by 10% each way, then to whole ticks
    expect([flat.lo, flat.hi, flat.step].map((v) => +v.toFixed(9))).toEqual([2.6, 3.4, 0.2]);
    expect(tickStep(0, 1000)).toBe(200);
  });

  test('ticks are 1, 2 or 5 times a power of ten apart and cover the range', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-6, max: 1e6, noNaN: true }), (min, span) => {
        const max = min + span;
        fc.pre(max > min);
        const { lo, hi, ticks, step } = niceScale(min, max);
        const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
        expect([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
        // lo and hi are k * step rounded to a double: allow a few units in the last place of the bound too
        // (at |x| = 1e6 one unit is 1.2e-10, more than step * 1e-6 for steps below 1e-4)
        const slack = (x: number) => step * 1e-6 + 4 * Number.EPSILON * Math.abs(x);
        expect(lo).toBeLessThanOrEqual(min + slack(min));
        expect(hi).toBeGreaterThanOrEqual(max - slack(max));
        expect(ticks.length).toBeGreaterThanOrEqual(3);
        expect(ticks.length).toBeLessThanOrEqual(12);
      }),
    );
  });
});
