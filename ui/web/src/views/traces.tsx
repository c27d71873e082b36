// Trace search (X-Ray filter expressions) and one trace as a waterfall with its logs.
import { useEffect, useState } from "preact/hooks";
import { getJson, xray } from "../api";
import { Code, Empty, ENDPOINT, ErrorBox, FilterBar, Loading, useLoad } from "../common";
import { fmtSeconds, fmtTime } from "../format";
import { href, replaceParams, type Route } from "../router";
import { rangeFromParams, rangeParams, resolve, TimeRangePicker } from "../time";
import { EventTable } from "./logs";

interface Summary {
  Id: string;
  StartTime?: number;
  Duration?: number;
  ResponseTime?: number;
  HasFault?: boolean;
  HasError?: boolean;
  HasThrottle?: boolean;
  Http?: { HttpURL?: string; HttpStatus?: number; HttpMethod?: string };
  EntryPoint?: { Name?: string; Type?: string };
}

export function statusOf(x: { HasFault?: boolean; HasError?: boolean; HasThrottle?: boolean }) {
  if (x.HasFault) return "fault";
  if (x.HasThrottle) return "throttle";
  if (x.HasError) return "error";
  return "ok";
}

export function Traces({ route }: { route: Route }) {
  const filter = route.params.get("filter") ?? "";
  const range = rangeFromParams(route.params, "1h");
  // Pages arrive one after another and show as they come: the first page is the first view.
  const [result, setResult] = useState<{ traces: Summary[]; scanned: number; next?: string; loading: boolean; error?: unknown }>({
    traces: [],
    scanned: 0,
    loading: true,
  });
  const key = `${filter}|${JSON.stringify(range)}`;
  const [more, setMore] = useState({ key, n: 0 });
  const loadMore = () => setMore({ key, n: more.key === key ? more.n + 1 : 1 });
  useEffect(() => {
    const controller = new AbortController();
    const { start, end } = resolve(range);
    const continuing = more.key === key && more.n > 0;
    let token = continuing ? result.next : undefined;
    let traces = continuing ? result.traces : [];
    let scanned = continuing ? result.scanned : 0;
    const budget = traces.length + 500;
    setResult({ traces, scanned, next: token, loading: true });
    (async () => {
      const began = Date.now();
      do {
        const input: Record<string, unknown> = { StartTime: start / 1000, EndTime: end / 1000, Sampling: false };
        if (filter) input.FilterExpression = filter;
        if (token) input.NextToken = token;
        const page = await xray<{ TraceSummaries: Summary[]; NextToken?: string; TracesProcessedCount?: number }>(
          "GetTraceSummaries",
          input,
          controller.signal,
        );
        traces = [...traces, ...page.TraceSummaries];
        scanned += page.TracesProcessedCount ?? 0;
        token = page.NextToken;
        setResult({ traces, scanned, next: token, loading: !!token });
        // Keep reading while pages come back empty (a selective filter), for up to 10 s.
      } while (token && traces.length < budget && (traces.length < 100 || Date.now() - began < 2000) && Date.now() - began < 10_000);
      setResult({ traces, scanned, next: token, loading: false });
    })().catch((error) => !controller.signal.aborted && setResult({ traces, scanned, loading: false, error }));
    return () => controller.abort();
  }, [key, more]);
  const sorted = [...result.traces].sort((a, b) => (b.StartTime ?? 0) - (a.StartTime ?? 0));
  const done = !result.loading;
  return (
    <section>
      <header class="view-header">
        <h1>Traces</h1>
        <TimeRangePicker value={range} onChange={(r) => replaceParams(rangeParams(r))} />
      </header>
      <FilterBar
        value={filter}
        label="Filter expression"
        placeholder='Filter expression, e.g. service("checkout") AND responsetime > 0.5, http.status = 500, fault'
        onApply={(text) => replaceParams({ filter: text })}
      />
      <ErrorBox error={result.error} />
      {result.loading && <Loading what={`Searching traces (${result.scanned.toLocaleString("en-US")} scanned so far)`} />}
      {done && !result.error && sorted.length === 0 && !result.next && (
        <Empty title={filter ? "No traces match this filter in this time range" : "No traces in this time range"}>
          <p>Send traces with the X-Ray SDKs (daemon address 127.0.0.1:2000), PutTraceSegments, or OpenTelemetry:</p>
          <Code>{`AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 python app.py
aws --endpoint-url ${ENDPOINT} xray put-trace-segments --trace-segment-documents '{…}'
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_TRACES_EXPORTER=otlp python app.py`}</Code>
        </Empty>
      )}
      {done && sorted.length === 0 && result.next && (
        <Empty title="No matching traces yet">
          <p>{result.scanned.toLocaleString("en-US")} traces scanned so far, none matched.</p>
          <button onClick={() => loadMore()}>Keep searching</button>
        </Empty>
      )}
      {sorted.length > 0 && (
        <>
          <p class="muted">
            {sorted.length.toLocaleString("en-US")} traces of {result.scanned.toLocaleString("en-US")} scanned
            {done && result.next && (
              <>
                {" "}
                ·{" "}
                <button class="link" onClick={() => loadMore()} data-testid="more-traces">
                  Load more
                </button>
              </>
            )}
          </p>
          <table class="grid" data-testid="trace-list">
            <thead>
              <tr>
                <th>Trace</th>
                <th>Start</th>
                <th>Entry point</th>
                <th>Request</th>
                <th class="num">Status</th>
                <th class="num">Response time</th>
                <th class="num">Duration</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((t) => (
                <tr>
                  <td class="mono nowrap">
                    <a href={href("/traces/trace", { id: t.Id })}>{t.Id}</a>
                  </td>
                  <td class="time">{fmtTime((t.StartTime ?? 0) * 1000)}</td>
                  <td>{t.EntryPoint?.Name ?? "—"}</td>
                  <td class="url">
                    {t.Http?.HttpMethod} {t.Http?.HttpURL}
                  </td>
                  <td class="num">{t.Http?.HttpStatus ?? ""}</td>
                  <td class="num">{fmtSeconds(t.ResponseTime)}</td>
                  <td class="num">{fmtSeconds(t.Duration)}</td>
                  <td>
                    <span class={`badge status-${statusOf(t)}`}>{statusOf(t)}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** A segment or subsegment document. */
interface Doc {
  id: string;
  name: string;
  start_time: number;
  end_time?: number;
  in_progress?: boolean;
  parent_id?: string;
  origin?: string;
  namespace?: string;
  fault?: boolean;
  error?: boolean;
  throttle?: boolean;
  cause?: { exceptions?: { message?: string; type?: string; remote?: boolean; stack?: { path?: string; line?: number; label?: string }[] }[]; working_directory?: string; id?: string };
  http?: { request?: Record<string, unknown>; response?: Record<string, unknown> };
  annotations?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  aws?: Record<string, unknown>;
  sql?: Record<string, unknown>;
  subsegments?: Doc[];
}

export interface Row {
  doc: Doc;
  depth: number;
  segment: boolean;
  service: string;
}

/** Segments and their subsegments in tree order; a segment whose parent is a subsegment of
 *  another segment (a downstream call) hangs under that subsegment. */
export function waterfall(docs: Doc[]): Row[] {
  const children = new Map<string, Doc[]>();
  const known = new Set<string>();
  const visit = (doc: Doc) => {
    known.add(doc.id);
    for (const sub of doc.subsegments ?? []) visit(sub);
  };
  docs.forEach(visit);
  const roots: Doc[] = [];
  for (const doc of docs) {
    if (doc.parent_id && known.has(doc.parent_id)) {
      if (!children.has(doc.parent_id)) children.set(doc.parent_id, []);
      children.get(doc.parent_id)!.push(doc);
    } else {
      roots.push(doc);
    }
  }
  const segments = new Set(docs.map((d) => d.id));
  const rows: Row[] = [];
  const byStart = (a: Doc, b: Doc) => a.start_time - b.start_time;
  const walk = (doc: Doc, depth: number, service: string) => {
    const isSegment = segments.has(doc.id);
    const name = isSegment ? doc.name : service;
    rows.push({ doc, depth, segment: isSegment, service: name });
    const kids = [...(doc.subsegments ?? []), ...(children.get(doc.id) ?? [])].sort(byStart);
    for (const kid of kids) walk(kid, depth + 1, name);
  };
  for (const root of roots.sort(byStart)) walk(root, 0, root.name);
  return rows;
}

function docStatus(doc: Doc) {
  return statusOf({ HasFault: doc.fault, HasError: doc.error, HasThrottle: doc.throttle });
}

export function Trace({ route }: { route: Route }) {
  const id = route.params.get("id") ?? "";
  const [selected, setSelected] = useState<string | null>(route.params.get("segment"));
  const trace = useLoad(
    async (signal) => {
      const out = await xray<{ Traces: { Id: string; Duration?: number; Segments: { Id: string; Document: string }[] }[]; UnprocessedTraceIds: string[] }>(
        "BatchGetTraces",
        { TraceIds: [id] },
        signal,
      );
      const found = out.Traces[0];
      if (!found) return null;
      return { duration: found.Duration, docs: found.Segments.map((s) => JSON.parse(s.Document) as Doc) };
    },
    [id],
  );
  const related = useLoad((signal) => getJson(`/api/v1/traces/${encodeURIComponent(id)}/logs`, signal), [id]);
  const rows = trace.data ? waterfall(trace.data.docs) : [];
  const start = Math.min(...rows.map((r) => r.doc.start_time));
  const end = Math.max(...rows.map((r) => r.doc.end_time ?? r.doc.start_time));
  const span = Math.max(end - start, 1e-6);
  const chosen = rows.find((r) => r.doc.id === selected)?.doc;
  return (
    <section>
      <nav class="crumbs">
        <a href="#/traces">Traces</a> / <span class="mono">{id}</span>
      </nav>
      <header class="view-header">
        <h1>Trace</h1>
        <span class="mono">{id}</span>
        {trace.data && (
          <span class="muted">
            {fmtTime(start * 1000)} · {fmtSeconds(end - start)} · {rows.filter((r) => r.segment).length} segments · {rows.length} spans
          </span>
        )}
      </header>
      <ErrorBox error={trace.error} />
      {trace.loading && <Loading what="Loading the trace" />}
      {trace.data === null && (
        <Empty title="Trace not found">
          <p>No segments of this trace are stored (or they have expired).</p>
        </Empty>
      )}
      {trace.data && (
        <div class="trace-layout">
          <div class="waterfall" data-testid="waterfall" role="tree">
            <div class="wf-head">
              <span>Name</span>
              <span class="num">Duration</span>
              <span class="wf-axis">
                <span>0</span>
                <span>{fmtSeconds(span / 2)}</span>
                <span>{fmtSeconds(span)}</span>
              </span>
            </div>
            {rows.map((r) => {
              const left = ((r.doc.start_time - start) / span) * 100;
              const width = Math.max((((r.doc.end_time ?? end) - r.doc.start_time) / span) * 100, 0.3);
              const status = docStatus(r.doc);
              return (
                <button
                  role="treeitem"
                  class={`wf-row ${r.segment ? "segment" : ""} ${selected === r.doc.id ? "selected" : ""}`}
                  data-testid="wf-row"
                  onClick={() => {
                    setSelected(r.doc.id);
                    replaceParams({ segment: r.doc.id });
                  }}
                >
                  <span class="wf-name" style={{ paddingLeft: `${r.depth * 14}px` }}>
                    {r.segment && <span class="origin">{r.doc.origin ?? "service"}</span>} {r.doc.name}
                    {status !== "ok" && <span class={`badge status-${status}`}>{status}</span>}
                  </span>
                  <span class="num">{r.doc.end_time ? fmtSeconds(r.doc.end_time - r.doc.start_time) : "in progress"}</span>
                  <span class="wf-track">
                    <span class={`wf-bar status-${status}`} style={{ left: `${left}%`, width: `${Math.min(width, 100 - left)}%` }} />
                  </span>
                </button>
              );
            })}
          </div>
          <aside class="trace-side">
            {chosen ? (
              <SegmentDetail doc={chosen} onClose={() => setSelected(null)} />
            ) : (
              <p class="muted">Select a segment to see its annotations, metadata, HTTP details and errors.</p>
            )}
            <h2>Logs of this trace</h2>
            <ErrorBox error={related.error} />
            {related.loading && <Loading />}
            {related.data && related.data.events.length === 0 && (
              <p class="muted">
                No log events carry this trace id. Log the X-Ray trace id (or W3C traceparent) in your messages, or send
                OTLP logs with trace context, and they appear here.
              </p>
            )}
            {related.data && (
              <div data-testid="trace-logs">
                <EventTable events={related.data.events} compact />
              </div>
            )}
          </aside>
        </div>
      )}
    </section>
  );
}

function Json({ value }: { value: unknown }) {
  return <pre class="code">{JSON.stringify(value, null, 2)}</pre>;
}

function SegmentDetail({ doc, onClose }: { doc: Doc; onClose: () => void }) {
  const exceptions = doc.cause?.exceptions ?? [];
  return (
    <div class="segment-detail" data-testid="segment-detail">
      <header class="view-header">
        <h2>{doc.name}</h2>
        <button class="link" onClick={onClose} aria-label="Close details">
          ×
        </button>
      </header>
      <dl class="facts">
        <dt>Id</dt>
        <dd class="mono">{doc.id}</dd>
        {doc.origin && (
          <>
            <dt>Origin</dt>
            <dd>{doc.origin}</dd>
          </>
        )}
        {doc.namespace && (
          <>
            <dt>Namespace</dt>
            <dd>{doc.namespace}</dd>
          </>
        )}
        <dt>Start</dt>
        <dd>{fmtTime(doc.start_time * 1000)}</dd>
        <dt>Duration</dt>
        <dd>{doc.end_time ? fmtSeconds(doc.end_time - doc.start_time) : "in progress"}</dd>
        <dt>Status</dt>
        <dd>
          <span class={`badge status-${docStatus(doc)}`}>{docStatus(doc)}</span>
        </dd>
      </dl>
      {doc.http && (
        <>
          <h3>HTTP</h3>
          <dl class="facts">
            {Object.entries({ ...(doc.http.request ?? {}), ...(doc.http.response ?? {}) }).map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>{typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>
              </>
            ))}
          </dl>
        </>
      )}
      {exceptions.length > 0 && (
        <>
          <h3>Errors and causes</h3>
          {exceptions.map((e) => (
            <div class="exception">
              <strong>{e.type ?? "Exception"}</strong>: {e.message}
              {e.remote && <span class="muted"> (remote)</span>}
              {e.stack && (
                <pre class="code">{e.stack.map((f) => `  at ${f.label ?? "?"} (${f.path ?? "?"}:${f.line ?? "?"})`).join("\n")}</pre>
              )}
            </div>
          ))}
        </>
      )}
      {doc.cause?.id && <p class="muted">Cause: exception {doc.cause.id} of another segment</p>}
      {doc.annotations && Object.keys(doc.annotations).length > 0 && (
        <>
          <h3>Annotations</h3>
          <dl class="facts">
            {Object.entries(doc.annotations).map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>{String(v)}</dd>
              </>
            ))}
          </dl>
        </>
      )}
      {doc.metadata && (
        <>
          <h3>Metadata</h3>
          <Json value={doc.metadata} />
        </>
      )}
      {doc.aws && (
        <>
          <h3>AWS</h3>
          <Json value={doc.aws} />
        </>
      )}
      {doc.sql && (
        <>
          <h3>SQL</h3>
          <Json value={doc.sql} />
        </>
      )}
    </div>
  );
}
