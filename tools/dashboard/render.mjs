// Draws the Grafana dashboard (its JSON: panels, grid, units, thresholds, legends) as an SVG from
// the query answers record.mjs took from a real Prometheus. No Grafana runs here; this is a
// picture of what the dashboard shows, not Grafana's rendering. Panel types: row, stat,
// timeseries, bargauge (the ones the dashboard uses).
// Usage: node tools/dashboard/render.mjs --recorded /tmp/recorded.json --out docs/dashboard.svg
//        rsvg-convert -o docs/dashboard.png docs/dashboard.svg
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const repo = new URL('../../', import.meta.url).pathname;
const { values: flags } = parseArgs({ options: { recorded: { type: 'string' }, out: { type: 'string' }, dashboard: { type: 'string', default: `${repo}manifests/overlays/prometheus/dashboards/pidguard.json` } } });
if (!flags.recorded || !flags.out) throw new Error('usage: render.mjs --recorded FILE --out FILE.svg');
const dashboard = JSON.parse(readFileSync(flags.dashboard, 'utf8'));
const recorded = JSON.parse(readFileSync(flags.recorded, 'utf8'));

const WIDTH = 1600;
const COLUMN = WIDTH / 24;
const ROW = 36;
const TOP = 56;
const GAP = 6;
const PALETTE = ['#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9', '#fade2a', '#37872d', '#e0b400'];
const COLORS = { green: '#73bf69', orange: '#ff9830', red: '#f2495c', text: '#ccccdc', dim: '#8e8e8e', panel: '#181b1f', border: '#2c3235', grid: '#2c3235', background: '#111217' };

const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const text = (x, y, content, { size = 12, color = COLORS.text, anchor = 'start', weight = 'normal' } = {}) =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" fill="${color}" text-anchor="${anchor}" font-weight="${weight}">${escape(content)}</text>`;

function format(value, unit, decimals) {
  if (!Number.isFinite(value)) return '-';
  if (decimals !== undefined && (unit === 'short' || unit === undefined)) return Math.round(value).toLocaleString('en-US');
  switch (unit) {
    case 'percentunit': return `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`;
    case 'reqps': return `${value < 10 ? value.toFixed(2) : value.toFixed(0)} req/s`;
    case 's': {
      const abs = Math.abs(value);
      if (abs >= 86400) return `${(value / 86400).toFixed(1)} days`;
      if (abs >= 3600) return `${(value / 3600).toFixed(1)} h`;
      if (abs >= 60) return `${(value / 60).toFixed(1)} min`;
      if (abs >= 1) return `${value.toFixed(2)} s`;
      if (abs >= 0.001) return `${(value * 1000).toFixed(abs >= 0.01 ? 0 : 2)} ms`;
      return value === 0 ? '0' : `${(value * 1e6).toFixed(0)} µs`;
    }
    default:
      if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(1)} M`;
      if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)} K`;
      return Number.isInteger(value) ? String(value) : value.toFixed(2);
  }
}

function thresholdColor(steps, value) {
  let color = steps?.[0]?.color ?? '#5794f2';
  for (const step of steps ?? []) if (step.value === null || value >= step.value) color = step.color;
  return COLORS[color] ?? color;
}

const legendOf = (format, metric) => (format ?? '').replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label) => metric[label] ?? '') || JSON.stringify(metric);

/** The panel's series: {name, points: [[t, v]]} from every target. */
function seriesOf(panel) {
  const series = [];
  for (const target of panel.targets ?? []) {
    const data = recorded.results[`${panel.id}/${target.refId}`];
    for (const result of data?.result ?? []) {
      const points = (result.values ?? [result.value]).map(([t, v]) => [Number(t), Number(v)]).filter(([, v]) => Number.isFinite(v));
      series.push({ name: legendOf(target.legendFormat, result.metric), points });
    }
  }
  return series;
}

function frame(panel) {
  const { x, y, w, h } = panel.gridPos;
  const box = { x: x * COLUMN + GAP / 2, y: TOP + y * ROW + GAP / 2, w: w * COLUMN - GAP, h: h * ROW - GAP };
  const svg = [`<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" rx="3" fill="${COLORS.panel}" stroke="${COLORS.border}"/>`,
    text(box.x + 10, box.y + 20, panel.title, { size: 13, weight: 'bold' })];
  return { box, svg };
}

function stat(panel) {
  const { box, svg } = frame(panel);
  const series = seriesOf(panel);
  const value = series[0]?.points.at(-1)?.[1];
  const defaults = panel.fieldConfig.defaults;
  if (value === undefined) return [...svg, text(box.x + box.w / 2, box.y + box.h / 2 + 10, 'No data', { size: 16, color: COLORS.dim, anchor: 'middle' })];
  const color = thresholdColor(defaults.thresholds?.steps, value);
  return [
    `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" rx="3" fill="${color}" fill-opacity="0.85"/>`,
    text(box.x + 10, box.y + 20, panel.title, { size: 13, weight: 'bold', color: '#ffffff' }),
    text(box.x + box.w / 2, box.y + box.h / 2 + 22, format(value, defaults.unit, defaults.decimals), { size: 40, weight: 'bold', color: '#ffffff', anchor: 'middle' }),
  ];
}

function timeseries(panel) {
  const { box, svg } = frame(panel);
  const defaults = panel.fieldConfig.defaults;
  const series = seriesOf(panel);
  const legendRows = Math.min(series.length, 4);
  const plot = { x: box.x + 64, y: box.y + 34, w: box.w - 80, h: box.h - 34 - 26 - legendRows * 15 };
  const { start, end } = recorded;
  const values = series.flatMap((one) => one.points.map(([, v]) => v));
  if (values.length === 0) return [...svg, text(box.x + box.w / 2, box.y + box.h / 2, 'No data', { size: 16, color: COLORS.dim, anchor: 'middle' })];
  const min = defaults.min ?? Math.min(0, ...values);
  const max = defaults.max ?? (Math.max(...values) * 1.15 || 1);
  const px = (t) => plot.x + ((t - start) / (end - start)) * plot.w;
  const py = (v) => plot.y + plot.h - ((Math.min(v, max) - min) / (max - min)) * plot.h;
  for (let i = 0; i <= 4; i++) {
    const v = min + ((max - min) * i) / 4;
    svg.push(`<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="${COLORS.grid}" stroke-width="1"/>`);
    svg.push(text(plot.x - 6, py(v) + 4, format(v, defaults.unit, defaults.decimals), { size: 10, color: COLORS.dim, anchor: 'end' }));
  }
  for (let i = 0; i <= 4; i++) {
    const t = start + ((end - start) * i) / 4;
    svg.push(text(px(t), plot.y + plot.h + 14, new Date(t * 1000).toISOString().slice(11, 19), { size: 10, color: COLORS.dim, anchor: i === 4 ? 'end' : 'middle' }));
  }
  if (defaults.custom?.thresholdsStyle?.mode?.includes('line')) {
    for (const step of defaults.thresholds.steps.filter((one) => one.value !== null)) {
      svg.push(`<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${py(step.value).toFixed(1)}" y2="${py(step.value).toFixed(1)}" stroke="${COLORS[step.color] ?? step.color}" stroke-dasharray="6 4" stroke-width="1.5"/>`);
    }
  }
  series.forEach((one, index) => {
    const color = PALETTE[index % PALETTE.length];
    if (defaults.custom?.drawStyle === 'bars') {
      const width = Math.max(1.5, plot.w / ((end - start) / recorded.step) - 1);
      for (const [t, v] of one.points) if (v > 0) svg.push(`<rect x="${(px(t) - width / 2).toFixed(1)}" y="${py(v).toFixed(1)}" width="${width.toFixed(1)}" height="${(py(min) - py(v)).toFixed(1)}" fill="${color}" fill-opacity="0.8"/>`);
    } else {
      const path = one.points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${px(t).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
      svg.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
  });
  series.slice(0, legendRows).forEach((one, index) => {
    const y = plot.y + plot.h + 30 + index * 15;
    const last = one.points.at(-1)?.[1];
    const peak = Math.max(...one.points.map(([, v]) => v));
    svg.push(`<rect x="${plot.x}" y="${y - 8}" width="12" height="4" fill="${PALETTE[index % PALETTE.length]}"/>`);
    svg.push(text(plot.x + 18, y, one.name.slice(0, 60), { size: 11 }));
    svg.push(text(plot.x + plot.w, y, `last ${format(last, defaults.unit, defaults.decimals)}   max ${format(peak, defaults.unit, defaults.decimals)}`, { size: 11, color: COLORS.dim, anchor: 'end' }));
  });
  if (series.length > legendRows) svg.push(text(box.x + box.w - 10, box.y + 20, `+${series.length - legendRows} more series`, { size: 10, color: COLORS.dim, anchor: 'end' }));
  return svg;
}

function bargauge(panel) {
  const { box, svg } = frame(panel);
  const defaults = panel.fieldConfig.defaults;
  const series = seriesOf(panel).map((one) => ({ name: one.name, value: one.points.at(-1)?.[1] })).filter((one) => one.value !== undefined).sort((a, b) => b.value - a.value);
  if (series.length === 0) return [...svg, text(box.x + box.w / 2, box.y + box.h / 2, 'No data', { size: 16, color: COLORS.dim, anchor: 'middle' })];
  const max = defaults.max ?? Math.max(...series.map((one) => one.value));
  const area = { x: box.x + 190, y: box.y + 34, w: box.w - 190 - 80, h: box.h - 44 };
  const barHeight = Math.min(24, area.h / series.length - 6);
  series.forEach((one, index) => {
    const y = area.y + index * (barHeight + 6);
    const color = thresholdColor(defaults.thresholds?.steps, one.value);
    svg.push(text(area.x - 8, y + barHeight / 2 + 4, one.name, { size: 11, anchor: 'end' }));
    svg.push(`<rect x="${area.x}" y="${y}" width="${area.w}" height="${barHeight}" fill="#22252b"/>`);
    svg.push(`<rect x="${area.x}" y="${y}" width="${(area.w * Math.min(one.value / max, 1)).toFixed(1)}" height="${barHeight}" fill="${defaults.thresholds ? color : PALETTE[5]}"/>`);
    svg.push(text(area.x + area.w + 8, y + barHeight / 2 + 4, format(one.value, defaults.unit, defaults.decimals), { size: 12, weight: 'bold', color: defaults.thresholds ? color : COLORS.text }));
  });
  return svg;
}

const DRAW = { stat, timeseries, bargauge };
const height = TOP + Math.max(...dashboard.panels.map((panel) => panel.gridPos.y + panel.gridPos.h)) * ROW + 30;
const parts = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, sans-serif">`,
  `<rect width="100%" height="100%" fill="${COLORS.background}"/>`,
  text(12, 30, `Dashboard: ${dashboard.title}`, { size: 20, weight: 'bold' }),
  text(WIDTH - 12, 30, `node ${recorded.node}; ${Math.round(recorded.end - recorded.start)} s recorded ${recorded.recordedAt.slice(0, 16).replace('T', ' ')} UTC by tools/dashboard/record.mjs; drawn by render.mjs, not Grafana`, { size: 12, color: COLORS.dim, anchor: 'end' }),
];
for (const panel of dashboard.panels) {
  if (panel.type === 'row') {
    parts.push(text(8, TOP + panel.gridPos.y * ROW + 24, `▾ ${panel.title}`, { size: 15, weight: 'bold' }));
    continue;
  }
  const draw = DRAW[panel.type];
  if (!draw) throw new Error(`render.mjs cannot draw panel type ${panel.type} (${panel.title})`);
  parts.push(...draw(panel));
}
parts.push(text(12, height - 10, 'Panels with no data: no series recorded (no audit ran; no connection was turned away).', { size: 11, color: COLORS.dim }));
parts.push('</svg>');
writeFileSync(flags.out, parts.join('\n') + '\n');
console.log(`wrote ${flags.out} (${WIDTH}x${height})`);
