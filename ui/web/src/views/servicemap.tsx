// The service map: nodes and edges laid out left to right by dagre, each node ringed by its
// fault / error / throttle shares, edges labelled with latency and requests.
import { Graph, layout } from "@dagrejs/dagre";
import { useState } from "preact/hooks";
import { getJson } from "../api";
import { Code, Empty, ENDPOINT, ErrorBox, Loading, useLoad } from "../common";
import { fmtNumber, fmtPercent, fmtSeconds } from "../format";
import { href, replaceParams, type Route } from "../router";
import { rangeFromParams, rangeParams, resolve, TimeRangePicker } from "../time";

interface Stats {
  OkCount?: number;
  ErrorStatistics?: { ThrottleCount?: number; OtherCount?: number; TotalCount?: number };
  FaultStatistics?: { TotalCount?: number };
  TotalCount?: number;
  TotalResponseTime?: number;
}

interface Service {
  ReferenceId: number;
  Name?: string;
  Names?: string[];
  Type?: string;
  Root?: boolean;
  SummaryStatistics?: Stats;
  Edges?: { ReferenceId: number; SummaryStatistics?: Stats }[];
}

export function health(stats: Stats | undefined) {
  const total = stats?.TotalCount ?? 0;
  const fault = stats?.FaultStatistics?.TotalCount ?? 0;
  const throttle = stats?.ErrorStatistics?.ThrottleCount ?? 0;
  const error = (stats?.ErrorStatistics?.TotalCount ?? 0) - throttle;
  const ratio = (n: number) => (total > 0 ? n / total : 0);
  return {
    total,
    fault: ratio(fault),
    error: ratio(error),
    throttle: ratio(throttle),
    ok: ratio(total - fault - error - throttle),
    latency: total > 0 ? (stats?.TotalResponseTime ?? 0) / total : undefined,
  };
}

const RADIUS = 30;

/** Requests per minute, or per hour when fewer than one a minute. */
function rate(total: number, minutes: number): string {
  const perMinute = total / minutes;
  return perMinute >= 1 || perMinute === 0 ? `${fmtNumber(perMinute, 1)}/min` : `${fmtNumber(perMinute * 60, 1)}/h`;
}

/** One ring segment per outcome, starting at the top. */
function Ring({ stats }: { stats: ReturnType<typeof health> }) {
  const parts: [number, string][] = [
    [stats.ok, "var(--ok)"],
    [stats.error, "var(--error)"],
    [stats.throttle, "var(--throttle)"],
    [stats.fault, "var(--fault)"],
  ];
  const circumference = 2 * Math.PI * RADIUS;
  let offset = 0;
  if (stats.total === 0) return <circle r={RADIUS} class="ring-empty" />;
  return (
    <>
      {parts
        .filter(([share]) => share > 0)
        .map(([share, color]) => {
          const dash = share * circumference;
          const el = (
            <circle
              r={RADIUS}
              fill="none"
              stroke={color}
              stroke-width="7"
              stroke-dasharray={`${dash} ${circumference - dash}`}
              stroke-dashoffset={-offset}
              transform="rotate(-90)"
            />
          );
          offset += dash;
          return el;
        })}
    </>
  );
}

export function ServiceMap({ route }: { route: Route }) {
  const range = rangeFromParams(route.params, "1h");
  const selected = route.params.get("node");
  const [hover, setHover] = useState<string | null>(null);
  const map = useLoad(
    (signal) => {
      const { start, end } = resolve(range);
      return getJson<{ services: Service[] }>(
        `/api/v1/traces/service-map?startTime=${start / 1000}&endTime=${end / 1000}`,
        signal,
      );
    },
    [JSON.stringify(range)],
  );
  const services = map.data?.services ?? [];
  const g = new Graph();
  g.setGraph({ rankdir: "LR", nodesep: 50, ranksep: 110, marginx: 50, marginy: 40 });
  g.setDefaultEdgeLabel(() => ({}));
  const byRef = new Map(services.map((s) => [s.ReferenceId, s]));
  for (const s of services) g.setNode(String(s.ReferenceId), { width: 150, height: 110 });
  for (const s of services) {
    for (const e of s.Edges ?? []) {
      if (byRef.has(e.ReferenceId)) g.setEdge(String(s.ReferenceId), String(e.ReferenceId), { width: 90, height: 30 });
    }
  }
  if (services.length > 0) layout(g);
  const graph = g.graph();
  const width = graph.width ?? 600;
  const height = graph.height ?? 300;
  const chosen = services.find((s) => String(s.ReferenceId) === selected);
  const { start, end } = resolve(range);
  const minutes = Math.max((end - start) / 60_000, 1);
  const tracesOf = (filter: string) => href("/traces", { filter, ...rangeParams(range) });
  const nodeFilter = (s: Service) => `service(${JSON.stringify(s.Name ?? "")})`;
  return (
    <section>
      <header class="view-header">
        <h1>Service map</h1>
        <TimeRangePicker value={range} onChange={(r) => replaceParams(rangeParams(r))} />
        <span class="legend">
          <span class="dot dot-ok" /> OK <span class="dot dot-error" /> Error (4xx) <span class="dot dot-throttle" /> Throttle (429){" "}
          <span class="dot dot-fault" /> Fault (5xx)
        </span>
      </header>
      <ErrorBox error={map.error} />
      {map.loading && !map.data && <Loading what="Building the service map" />}
      {map.data && services.length === 0 && (
        <Empty title="No services in this time range">
          <p>The map is drawn from traces: instrument a service with an X-Ray SDK or OpenTelemetry and send a request.</p>
          <Code>{`X-Ray daemon protocol: UDP 127.0.0.1:2000
OTLP: ${ENDPOINT.replace(/:\d+$/, ":4318")}/v1/traces or gRPC :4317`}</Code>
        </Empty>
      )}
      {services.length > 0 && (
        <div class="map-layout">
          <div class="map-canvas">
            <svg
              viewBox={`0 0 ${width} ${height}`}
              style={{ width: "100%", maxWidth: `${width}px`, height: "auto" }}
              data-testid="service-map"
              role="img"
              aria-label="Service map"
            >
              <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                  <path d="M 0 0 L 10 5 L 0 10 z" fill="#94a3b8" />
                </marker>
              </defs>
              {g.edges().map((e) => {
                const edge = g.edge(e);
                const from = byRef.get(Number(e.v))!;
                const to = byRef.get(Number(e.w))!;
                const stats = health(from.Edges?.find((x) => x.ReferenceId === to.ReferenceId)?.SummaryStatistics);
                const points = (edge.points ?? []) as { x: number; y: number }[];
                const d = points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
                const mid = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 };
                const key = `${e.v}-${e.w}`;
                return (
                  <a
                    href={tracesOf(`edge(${JSON.stringify(from.Name ?? "")}, ${JSON.stringify(to.Name ?? "")})`)}
                    class={`edge ${hover === key ? "hover" : ""} ${stats.fault > 0 ? "faulty" : ""}`}
                    data-testid="map-edge"
                    data-from={from.Name}
                    data-to={to.Name}
                    onMouseEnter={() => setHover(key)}
                    onMouseLeave={() => setHover(null)}
                  >
                    <title>
                      {from.Name} → {to.Name}: {fmtNumber(stats.total)} requests, avg {fmtSeconds(stats.latency)}
                    </title>
                    <path d={d} marker-end="url(#arrow)" />
                    <text x={mid.x} y={mid.y - 6} text-anchor="middle" class="edge-label">
                      {fmtSeconds(stats.latency)} · {rate(stats.total, minutes)}
                    </text>
                  </a>
                );
              })}
              {services.map((s) => {
                const node = g.node(String(s.ReferenceId));
                const stats = health(s.SummaryStatistics);
                return (
                  <g
                    transform={`translate(${node.x},${node.y - 15})`}
                    class={`node ${selected === String(s.ReferenceId) ? "selected" : ""}`}
                    data-testid="map-node"
                    data-name={s.Name}
                    data-type={s.Type}
                    tabIndex={0}
                    role="button"
                    aria-label={`${s.Name} (${s.Type})`}
                    onClick={() => replaceParams({ node: String(s.ReferenceId) })}
                    onKeyDown={(e) => e.key === "Enter" && replaceParams({ node: String(s.ReferenceId) })}
                  >
                    <circle r={RADIUS + 6} class="node-bg" />
                    <Ring stats={stats} />
                    <text y="5" text-anchor="middle" class="node-latency">
                      {stats.total > 0 ? fmtSeconds(stats.latency) : ""}
                    </text>
                    <text y={RADIUS + 22} text-anchor="middle" class="node-name">
                      {(s.Name ?? "?").length > 24 ? `${(s.Name ?? "").slice(0, 22)}…` : s.Name}
                    </text>
                    <text y={RADIUS + 36} text-anchor="middle" class="node-type">
                      {s.Type}
                    </text>
                  </g>
                );
              })}
            </svg>
          </div>
          {chosen && (
            <aside class="map-side" data-testid="node-detail">
              <header class="view-header">
                <h2>{chosen.Name}</h2>
                <button class="link" aria-label="Close" onClick={() => replaceParams({ node: undefined })}>
                  ×
                </button>
              </header>
              <p class="muted">{chosen.Type}</p>
              <NodeStats stats={chosen.SummaryStatistics} minutes={minutes} />
              <a class="button primary" href={tracesOf(nodeFilter(chosen))}>
                View traces
              </a>{" "}
              <a class="button" href={tracesOf(`${nodeFilter(chosen)} AND (fault OR error)`)}>
                Traces with errors
              </a>
              {(chosen.Edges ?? []).length > 0 && <h3>Calls</h3>}
              <ul class="plain">
                {(chosen.Edges ?? []).map((e) => {
                  const to = byRef.get(e.ReferenceId);
                  const stats = health(e.SummaryStatistics);
                  return (
                    <li>
                      <a href={tracesOf(`edge(${JSON.stringify(chosen.Name ?? "")}, ${JSON.stringify(to?.Name ?? "")})`)}>
                        → {to?.Name}
                      </a>{" "}
                      <span class="muted">
                        {fmtNumber(stats.total)} requests · avg {fmtSeconds(stats.latency)} · faults {fmtPercent(stats.fault)}
                      </span>
                    </li>
                  );
                })}
              </ul>
            </aside>
          )}
        </div>
      )}
    </section>
  );
}

function NodeStats({ stats, minutes }: { stats?: Stats; minutes: number }) {
  const h = health(stats);
  if (h.total === 0) return <p class="muted">No requests served in this time range (a client or inferred node).</p>;
  return (
    <dl class="facts">
      <dt>Requests</dt>
      <dd>
        {fmtNumber(h.total)} ({rate(h.total, minutes)})
      </dd>
      <dt>Average latency</dt>
      <dd>{fmtSeconds(h.latency)}</dd>
      <dt>Faults (5xx)</dt>
      <dd>{fmtPercent(h.fault)}</dd>
      <dt>Errors (4xx)</dt>
      <dd>{fmtPercent(h.error)}</dd>
      <dt>Throttles (429)</dt>
      <dd>{fmtPercent(h.throttle)}</dd>
    </dl>
  );
}
