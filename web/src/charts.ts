// The analytics charts, drawn by uPlot (a small, fast canvas chart library).
// Loaded only with the analytics page.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export const COLORS = ["#1f4fd1", "#0f766e", "#b45309", "#7c3aed"];
const AXIS = { stroke: "#4b5563", grid: { stroke: "#e5e7eb", width: 1 }, ticks: { stroke: "#e5e7eb", width: 1 } };
const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

export interface Series {
  label: string;
  values: number[];
}

/** A chart drawn into `host`, following its width; `destroy` removes it. */
export interface Drawn {
  destroy(): void;
}

function followWidth(host: HTMLElement, chart: uPlot, height: number): Drawn {
  const observer = new ResizeObserver(() => {
    const width = Math.floor(host.clientWidth);
    if (width > 0 && width !== chart.width) chart.setSize({ width, height });
  });
  observer.observe(host);
  return {
    destroy() {
      observer.disconnect();
      chart.destroy();
    },
  };
}

/**
 * A value axis's width: its widest label plus the tick and gap, so labels
 * such as "1,800 ms" are never clipped (uPlot sizes axes in CSS pixels).
 */
const measure = document.createElement("canvas").getContext("2d");
function valueAxisSize(_: uPlot, values: string[] | null): number {
  if (!measure || !values) return 50;
  measure.font = FONT;
  const widest = Math.max(0, ...values.map((value) => measure.measureText(value).width));
  return Math.ceil(widest) + 20;
}

const integer = (_: uPlot, value: number | null) => (value === null ? "—" : Math.round(value).toLocaleString());

/** Axis numbers stay short: 950, 12K, 3.4M. */
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
export const short = (value: number) => compact.format(value);

const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const monthYear = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric", timeZone: "UTC" });

/** One line per series over UTC days (`days` as YYYY-MM-DD). */
export function daily(host: HTMLElement, days: string[], series: Series[], height = 260): Drawn {
  const x = days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  const chart = new uPlot(
    {
      width: Math.max(200, Math.floor(host.clientWidth)),
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true }, y: { range: (_, __, max) => [0, Math.max(1, max) * 1.1] } },
      legend: { live: false },
      // Room on the right for the last date label.
      padding: [12, 28, 0, 0],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i],
          width: 2,
          fill: i === 0 ? "rgba(31, 79, 209, 0.08)" : undefined,
          points: { show: days.length <= 62 },
          value: integer,
        })),
      ],
      axes: [
        {
          ...AXIS,
          font: FONT,
          space: 60,
          // Days for up to three months, then months.
          values: (_, ticks) => {
            const long = x.length > 92;
            return ticks.map((t) => (long ? monthYear : dayMonth).format(new Date(t * 1000)));
          },
        },
        {
          ...AXIS,
          font: FONT,
          size: valueAxisSize,
          values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? short(t) : "")),
        },
      ],
      cursor: { drag: { x: false, y: false } },
    },
    [x, ...series.map((s) => s.values)],
    host,
  );
  return followWidth(host, chart, height);
}

/**
 * Bars for named categories. `horizontal` puts the names down the left, for
 * long names (top users, top tags).
 */
export function bars(
  host: HTMLElement,
  labels: readonly string[],
  series: Series,
  options: { horizontal?: boolean; color?: string; format?: (value: number) => string; height?: number } = {},
): Drawn {
  const horizontal = options.horizontal ?? false;
  const height = options.height ?? (horizontal ? Math.max(120, 34 * labels.length + 40) : 220);
  const indices = labels.map((_, i) => i);
  const clip = (label: string) => (label.length > 18 ? `${label.slice(0, 17)}…` : label);
  const format = options.format ?? short;
  const chart = new uPlot(
    {
      width: Math.max(200, Math.floor(host.clientWidth)),
      height,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: {
          time: false,
          range: [-0.5, labels.length - 0.5],
          // Horizontal: the categories run down the side, first at the top.
          ori: horizontal ? 1 : 0,
          dir: horizontal ? -1 : 1,
        },
        y: { range: (_, __, max) => [0, Math.max(1, max) * 1.1], ori: horizontal ? 0 : 1 },
      },
      series: [
        {},
        {
          label: series.label,
          fill: options.color ?? COLORS[0],
          stroke: options.color ?? COLORS[0],
          paths: uPlot.paths.bars!({ size: [0.6, 48] }),
          points: { show: false },
        },
      ],
      axes: [
        {
          ...AXIS,
          font: FONT,
          side: horizontal ? 3 : 2,
          size: horizontal ? 150 : 40,
          grid: { show: false },
          splits: () => indices,
          values: (_, ticks) => ticks.map((i) => clip(labels[i] ?? "")),
        },
        {
          ...AXIS,
          font: FONT,
          side: horizontal ? 2 : 3,
          size: horizontal ? 36 : valueAxisSize,
          space: horizontal ? 60 : 30,
          values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? format(t) : "")),
        },
      ],
    },
    [indices, series.values],
    host,
  );
  return followWidth(host, chart, height);
}
