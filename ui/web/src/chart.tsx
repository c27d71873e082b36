// Time-series charts with uPlot: small, fast, canvas based.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef } from "preact/hooks";

export interface Series {
  label: string;
  /** [epoch ms, value] ascending. */
  points: [number, number | null][];
}

const COLORS = ["#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#4b5563"];

/** Aligns the series on the union of their timestamps (uPlot's data layout). */
export function align(series: Series[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const column: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of s.points) column[index.get(t)!] = v;
    return column;
  });
  return [xs.map((x) => x / 1000), ...columns] as uPlot.AlignedData;
}

export function Chart({
  series,
  threshold,
  height = 260,
  title,
}: {
  series: Series[];
  threshold?: { value: number; label: string };
  height?: number;
  title?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const data = align(series);
    const thresholdLine = (u: uPlot) => {
      if (!threshold) return;
      const y = u.valToPos(threshold.value, "y", true);
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#dc2626";
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.fillStyle = "#dc2626";
      ctx.font = `${11 * devicePixelRatio}px sans-serif`;
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillText(threshold.label, u.bbox.left + u.bbox.width - 4 * devicePixelRatio, y - 3 * devicePixelRatio);
      ctx.restore();
    };
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 300),
      height,
      title,
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          points: { show: s.points.length < 60 },
          spanGaps: false,
        })),
      ],
      axes: [{}, { size: 60 }],
      scales: {
        y: {
          range: (_u, min, max) => {
            let lo = min ?? 0;
            let hi = max ?? 1;
            if (threshold) {
              lo = Math.min(lo, threshold.value);
              hi = Math.max(hi, threshold.value);
            }
            if (lo === hi) hi = lo + 1;
            const pad = (hi - lo) * 0.08;
            return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
          },
        },
      },
      hooks: { draw: [thresholdLine] },
    };
    const plot = new uPlot(options, data, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(element.clientWidth, 300), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [JSON.stringify(series), threshold?.value, height, title]);
  return <div class="chart" ref={host} data-testid="chart" />;
}
