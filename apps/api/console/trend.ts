import { svg } from './dom.js';
import { formatBytes } from './format.js';

const WIDTH = 120;
const HEIGHT = 28;
const PAD = 3;

/**
 * A sparkline of backup sizes, oldest to newest. The chart is decoration for sighted users; its
 * accessible name says the same in words (first, last and range), so nothing depends on seeing it.
 */
export function sizeTrend(points: readonly { bytes: number }[], label: string): SVGElement {
  const sizes = points.map((point) => point.bytes);
  const summary =
    sizes.length === 0
      ? `${label}: no backups`
      : `${label}: ${sizes.length} backups, ${formatBytes(sizes[0])} to ${formatBytes(sizes.at(-1))} (range ${formatBytes(Math.min(...sizes))}–${formatBytes(Math.max(...sizes))})`;
  const chart = svg('svg', {
    class: 'trend',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    width: WIDTH,
    height: HEIGHT,
    role: 'img',
    'aria-label': summary,
  });
  chart.append(svg('title', {}, summary));
  if (sizes.length === 0) return chart;
  const min = Math.min(...sizes);
  const max = Math.max(...sizes);
  const span = max - min || 1;
  const x = (index: number) =>
    sizes.length === 1 ? WIDTH / 2 : PAD + (index * (WIDTH - 2 * PAD)) / (sizes.length - 1);
  // Flat series sit in the middle instead of on the floor.
  const y = (value: number) =>
    max === min ? HEIGHT / 2 : HEIGHT - PAD - ((value - min) * (HEIGHT - 2 * PAD)) / span;
  const path = sizes.map(
    (value, index) => `${index === 0 ? 'M' : 'L'}${x(index).toFixed(1)},${y(value).toFixed(1)}`,
  );
  chart.append(svg('path', { d: path.join(' '), class: 'trend-line', fill: 'none' }));
  const last = sizes.length - 1;
  chart.append(
    svg('circle', { cx: x(last).toFixed(1), cy: y(sizes[last] ?? 0).toFixed(1), r: 2.5, class: 'trend-dot' }),
  );
  return chart;
}
