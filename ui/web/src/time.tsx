// Time ranges: relative (`range=1h`, the last hour up to now) or absolute (`start`/`end`,
// epoch ms), kept in the URL.
import { useState } from "preact/hooks";
import { fmtTime, pad } from "./format";

export const RELATIVE: [string, string, number][] = [
  ["5m", "Last 5 minutes", 5 * 60_000],
  ["15m", "Last 15 minutes", 15 * 60_000],
  ["1h", "Last hour", 3_600_000],
  ["3h", "Last 3 hours", 3 * 3_600_000],
  ["12h", "Last 12 hours", 12 * 3_600_000],
  ["1d", "Last day", 86_400_000],
  ["7d", "Last 7 days", 7 * 86_400_000],
  ["30d", "Last 30 days", 30 * 86_400_000],
];

export interface TimeRange {
  range?: string;
  start?: number;
  end?: number;
}

export function rangeFromParams(params: URLSearchParams, fallback = "1h"): TimeRange {
  const start = Number(params.get("start"));
  const end = Number(params.get("end"));
  if (params.get("start") && params.get("end") && Number.isFinite(start) && Number.isFinite(end) && start < end) {
    return { start, end };
  }
  const range = params.get("range");
  return { range: RELATIVE.some(([key]) => key === range) ? range! : fallback };
}

export function rangeParams(range: TimeRange): Record<string, string | undefined> {
  return range.range
    ? { range: range.range, start: undefined, end: undefined }
    : { range: undefined, start: String(range.start), end: String(range.end) };
}

/** The range in epoch ms, relative ranges ending now. */
export function resolve(range: TimeRange, now = Date.now()): { start: number; end: number } {
  if (range.range) {
    const span = RELATIVE.find(([key]) => key === range.range)?.[2] ?? 3_600_000;
    return { start: now - span, end: now };
  }
  return { start: range.start!, end: range.end! };
}

function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function TimeRangePicker({ value, onChange }: { value: TimeRange; onChange: (range: TimeRange) => void }) {
  const [custom, setCustom] = useState(!value.range);
  const resolved = resolve(value);
  const [from, setFrom] = useState(toLocalInput(resolved.start));
  const [to, setTo] = useState(toLocalInput(resolved.end));
  return (
    <span class="time-range">
      <select
        aria-label="Time range"
        value={custom ? "custom" : value.range}
        onChange={(e) => {
          const key = (e.target as HTMLSelectElement).value;
          if (key === "custom") {
            setCustom(true);
          } else {
            setCustom(false);
            onChange({ range: key });
          }
        }}
      >
        {RELATIVE.map(([key, label]) => (
          <option value={key}>{label}</option>
        ))}
        <option value="custom">Custom…</option>
      </select>
      {custom && (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            const start = new Date(from).getTime();
            const end = new Date(to).getTime();
            if (Number.isFinite(start) && Number.isFinite(end) && start < end) onChange({ start, end });
          }}
        >
          <input type="datetime-local" aria-label="From" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
          <input type="datetime-local" aria-label="To" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
          <button type="submit">Apply</button>
        </form>
      )}
      {!custom && !value.range && (
        <span class="muted">
          {fmtTime(resolved.start)} – {fmtTime(resolved.end)}
        </span>
      )}
    </span>
  );
}
