import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** one value per x; null = no data */
  values: (number | null)[];
  color: string;
}

const utc = (seconds: number) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC');

/**
 * A time series chart (uPlot, canvas) over UTC periods. The numbers behind it are in
 * the page's tables; `summary` describes the chart for screen readers.
 */
export function TimeChart({
  title,
  summary,
  x,
  series,
  unit,
  height = 220,
  step = false,
}: {
  title: string;
  summary: string;
  /** period starts as UTC seconds */
  x: number[];
  series: ChartSeries[];
  unit: string;
  height?: number;
  /** draw steps (a balance holds its value until it changes) */
  step?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(el.clientWidth, 280);
    const plot = new uPlot(
      {
        width,
        height,
        tzDate: utc,
        scales: { x: { time: true } },
        series: [
          { label: 'UTC' },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            points: { show: x.length <= 62 },
            ...(step ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
            value: (_u: uPlot, v: number | null) =>
              v === null ? '–' : `${v.toLocaleString('en-US')} ${unit}`,
          })),
        ],
        axes: [
          {},
          { size: 80, values: (_u: uPlot, ticks: number[]) => ticks.map((t) => t.toLocaleString('en-US')) },
        ],
        legend: { live: true },
      },
      [x, ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 280), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [x, series, unit, height, step]);
  return (
    <figure className="chart">
      <figcaption>
        {title} <span className="muted">({unit})</span>
      </figcaption>
      <div ref={box} role="img" aria-label={summary} className="chart-box" />
    </figure>
  );
}
