// The hand-written SVG charts: well-formed (parsed strictly), labels escaped, bars and
// points placed in proportion to their values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { groupedBars, labelledPoints, niceTicks, svgDocument } from '../../lib/bench/svg.js';
import { findAll, parseXml } from './xml.js';

const close = (a: number, b: number, tol: number) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('tick values are round and cover the range', () => {
  assert.equal(niceTicks(0, 3807), [0, 1000, 2000, 3000, 4000]);
  assert.equal(niceTicks(0, 100), [0, 20, 40, 60, 80, 100]);
  assert.equal(niceTicks(2.6, 8.6), [2, 4, 6, 8, 10]);
});

test('grouped bars: names with markup characters are escaped; heights follow the values; gaps for missing cells', () => {
  const doc = svgDocument([
    groupedBars({ title: 'A & B <test>', xLabel: 'x', yLabel: 'y', groups: ['1', '2'], series: [{ name: 'q4 "mse" & <g32>', values: [100, 250], ranges: [[90, 110], null] }, { name: 'b', values: [null, 50] }] }),
  ], 'caption & more');
  const svg = parseXml(doc);
  assert.is(svg.name, 'svg');
  const texts = findAll(svg, 'text').map((t) => t.text);
  assert.ok(texts.includes('A & B <test>'));
  assert.ok(texts.includes('q4 "mse" & <g32>'));
  const bars = findAll(svg, 'rect').filter((r) => findAll(r, 'title').length);
  assert.is(bars.length, 3);
  const height = (i: number) => Number(bars[i]!.attrs.height);
  close(height(1) / height(0), 2.5, 0.01);
  close(height(2) / height(0), 0.5, 0.01);
  assert.is(findAll(svg, 'line').filter((l) => l.attrs.stroke === '#222').length, 1);
});

test('labelled points: x grows with bits per weight; a log axis spaces decades evenly', () => {
  const svg = parseXml(svgDocument([labelledPoints({ title: 't', xLabel: 'bpw', yLabel: 'kld', logY: true, points: [{ x: 8.5, y: 0.001, label: 'q8' }, { x: 2.5, y: 1, label: 'q2' }, { x: 4.5, y: 0.1, label: 'q4' }, { x: 4.5, y: 0.01, label: 'q4:mse' }, { x: 4.5, y: 0.1, label: 'q4:g32' }] })]));
  const circles = findAll(svg, 'circle').map((c) => ({ x: Number(c.attrs.cx), y: Number(c.attrs.cy), label: /^(.*): [\d.]+ bpw/.exec(findAll(c, 'title')[0]!.text)![1]! }));
  assert.equal(circles.map((c) => c.label), ['q2', 'q4', 'q4:mse', 'q4:g32', 'q8']);
  const at = (label: string) => circles.find((c) => c.label === label)!;
  assert.ok(at('q2').x < at('q4').x && at('q4').x === at('q4:mse').x && at('q4:mse').x < at('q8').x);
  // KLD 1, 0.1, 0.01, 0.001: equal steps down the page.
  close(at('q4').y - at('q2').y, at('q4:mse').y - at('q4').y, 0.2);
  close(at('q8').y - at('q4:mse').y, at('q4:mse').y - at('q4').y, 0.2);
  // Labels of points at the same place (q4, q4:g32) do not overlap.
  const labelY = (name: string) => Number(findAll(svg, 'text').find((t) => t.attrs['font-size'] === '10' && t.text === name)!.attrs.y);
  assert.is(at('q4').y, at('q4:g32').y);
  assert.ok(Math.abs(labelY('q4') - labelY('q4:g32')) >= 11);
});

test('reference marks: hollow diamonds on the same axes, the range widened to hold them', () => {
  const doc = svgDocument([labelledPoints({ title: 't', xLabel: 'bpw', yLabel: 'ΔPPL', points: [{ x: 3, y: 10, label: 'a' }, { x: 4, y: 5, label: 'b' }], references: [{ x: 2.66, y: 28, label: 'ik IQ2_KS' }, { x: 4.66, y: 0.8, label: 'ik & co' }] })]);
  const svg = parseXml(doc);
  const marks = findAll(svg, 'path');
  assert.is(marks.length, 2);
  assert.ok(marks.every((m) => m.attrs.fill === 'none'));
  const texts = findAll(svg, 'text').map((t) => t.text);
  assert.ok(texts.includes('ik & co') && texts.includes('30'), texts.join('|'));
  const circles = findAll(svg, 'circle');
  // The diamond at 28 sits above the point at 10: smaller y on screen.
  const top = Number(/M[\d.]+ ([\d.]+)/.exec(marks.find((m) => findAll(m, 'title')[0]!.text.startsWith('ik IQ2_KS'))!.attrs.d!)![1]) + 5;
  assert.ok(top < Number(circles[0]!.attrs.cy));
});

test.run();
