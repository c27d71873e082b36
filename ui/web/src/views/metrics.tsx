// Metrics: namespace / metric / dimension browser and charts of the chosen series.
import { useState } from "preact/hooks";
import { getJson, postJson } from "../api";
import { Chart, type Series } from "../chart";
import { Code, Empty, ENDPOINT, ErrorBox, Loading, useLoad } from "../common";
import { replaceParams, type Route } from "../router";
import { rangeFromParams, rangeParams, resolve, TimeRangePicker } from "../time";

export interface MetricRef {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

export const STATS = ["Average", "Sum", "Minimum", "Maximum", "SampleCount", "p50", "p90", "p99"];

/** A period that keeps a chart under ~1,000 points (a multiple of 60 s). */
export function autoPeriod(start: number, end: number): number {
  return Math.max(60, Math.ceil((end - start) / 1000 / 1000 / 60) * 60);
}

export function dimensionText(dimensions: Record<string, string>): string {
  const entries = Object.entries(dimensions);
  return entries.length === 0 ? "(no dimensions)" : entries.map(([k, v]) => `${k}=${v}`).join(", ");
}

export async function fetchSeries(queries: object[], start: number, end: number, signal?: AbortSignal): Promise<Series[]> {
  const out = await postJson<{ results: { id: string; label: string; points: [number, number][] }[] }>(
    "/api/v1/metrics/query",
    { start, end, queries },
    signal,
  );
  return out.results.map((r) => ({ label: r.label || r.id, points: r.points }));
}

export function metricQuery(id: string, m: MetricRef, period: number, stat: string) {
  return {
    Id: id,
    Label: `${m.name} ${dimensionText(m.dimensions)}`,
    MetricStat: {
      Metric: {
        Namespace: m.namespace,
        MetricName: m.name,
        Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })),
      },
      Period: period,
      Stat: stat,
    },
    ReturnData: true,
  };
}

const sameRef = (a: MetricRef, b: MetricRef) =>
  a.namespace === b.namespace && a.name === b.name && dimensionText(a.dimensions) === dimensionText(b.dimensions);

export function Metrics({ route }: { route: Route }) {
  const namespace = route.params.get("ns") ?? "";
  const metricName = route.params.get("metric") ?? "";
  const stat = route.params.get("stat") ?? "Average";
  const range = rangeFromParams(route.params, "3h");
  let chosen: MetricRef[] = [];
  try {
    chosen = JSON.parse(route.params.get("series") ?? "[]");
  } catch {
    chosen = [];
  }
  const [search, setSearch] = useState("");
  const namespaces = useLoad((signal) => getJson<{ namespaces: { name: string; metrics: number }[] }>("/api/v1/metrics/namespaces", signal), []);
  const metrics = useLoad(
    (signal) =>
      namespace
        ? getJson<{ metrics: MetricRef[] }>(`/api/v1/metrics?namespace=${encodeURIComponent(namespace)}&limit=5000`, signal)
        : Promise.resolve({ metrics: [] as MetricRef[] }),
    [namespace],
  );
  const chart = useLoad(
    (signal) => {
      if (chosen.length === 0) return Promise.resolve([] as Series[]);
      const { start, end } = resolve(range);
      const period = autoPeriod(start, end);
      return fetchSeries(chosen.map((m, i) => metricQuery(`m${i}`, m, period, stat)), start, end, signal);
    },
    [JSON.stringify(chosen), stat, JSON.stringify(range)],
  );
  const toggle = (m: MetricRef) => {
    const next = chosen.some((c) => sameRef(c, m)) ? chosen.filter((c) => !sameRef(c, m)) : [...chosen, m].slice(-8);
    replaceParams({ series: next.length ? JSON.stringify(next) : undefined });
  };
  const shown = (metrics.data?.metrics ?? [])
    .filter((m) => !metricName || m.name === metricName)
    .filter((m) => `${m.name} ${dimensionText(m.dimensions)}`.toLowerCase().includes(search.toLowerCase()))
    .sort((a, b) => a.name.localeCompare(b.name) || dimensionText(a.dimensions).localeCompare(dimensionText(b.dimensions)));
  return (
    <section>
      <header class="view-header">
        <h1>Metrics</h1>
        <TimeRangePicker value={range} onChange={(r) => replaceParams(rangeParams(r))} />
        <select aria-label="Statistic" value={stat} onChange={(e) => replaceParams({ stat: (e.target as HTMLSelectElement).value })}>
          {STATS.map((s) => (
            <option value={s}>{s}</option>
          ))}
        </select>
      </header>
      <ErrorBox error={namespaces.error} />
      {namespaces.data && namespaces.data.namespaces.length === 0 && (
        <Empty title="No metrics yet">
          <p>Metrics come from PutMetricData, metric filters, Embedded Metric Format logs, OTLP metrics and Lambda REPORT lines:</p>
          <Code>{`aws --endpoint-url ${ENDPOINT} cloudwatch put-metric-data --namespace MyApp \\
    --metric-name Latency --value 42 --unit Milliseconds --dimensions Service=checkout`}</Code>
        </Empty>
      )}
      <div class="split metrics-split">
        <aside class="side-col browser">
          <h2>Namespaces</h2>
          <ul class="plain" data-testid="namespaces">
            {namespaces.data?.namespaces.map((n) => (
              <li>
                <button
                  class={`link ${n.name === namespace ? "active" : ""}`}
                  onClick={() => replaceParams({ ns: n.name, metric: undefined })}
                >
                  {n.name}
                </button>{" "}
                <span class="muted">{n.metrics}</span>
              </li>
            ))}
          </ul>
        </aside>
        <div class="main-col">
          {chosen.length > 0 && (
            <>
              <ErrorBox error={chart.error} />
              {chart.loading && !chart.data && <Loading what="Loading datapoints" />}
              {chart.data && <Chart series={chart.data} />}
              {chart.data && chart.data.every((s) => s.points.length === 0) && (
                <p class="muted">No datapoints in this time range.</p>
              )}
            </>
          )}
          {namespace && (
            <>
              <header class="view-header">
                <h2>{namespace}</h2>
                <input
                  type="search"
                  data-search
                  placeholder="Search metrics and dimensions"
                  aria-label="Search metrics"
                  value={search}
                  onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
                />
              </header>
              <ErrorBox error={metrics.error} />
              {metrics.loading && <Loading />}
              <table class="grid" data-testid="metric-list">
                <thead>
                  <tr>
                    <th class="check"></th>
                    <th>Metric</th>
                    <th>Dimensions</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.slice(0, 500).map((m) => (
                    <tr>
                      <td class="check">
                        <input
                          type="checkbox"
                          aria-label={`Chart ${m.name} ${dimensionText(m.dimensions)}`}
                          checked={chosen.some((c) => sameRef(c, m))}
                          onChange={() => toggle({ namespace: m.namespace, name: m.name, dimensions: m.dimensions })}
                        />
                      </td>
                      <td>{m.name}</td>
                      <td class="muted">{dimensionText(m.dimensions)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          {!namespace && chosen.length === 0 && namespaces.data && namespaces.data.namespaces.length > 0 && (
            <p class="muted">Pick a namespace, then tick metrics to chart them.</p>
          )}
        </div>
      </div>
    </section>
  );
}
