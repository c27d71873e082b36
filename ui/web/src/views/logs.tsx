// Log groups, a group's streams and metric filters, and its events with live tail.
import { useEffect, useRef, useState } from "preact/hooks";
import { allPages, logs } from "../api";
import { Code, Empty, ENDPOINT, ErrorBox, FilterBar, Loading, useLoad } from "../common";
import { fmtBytes, fmtTime } from "../format";
import { href, replaceParams, type Route } from "../router";
import { rangeFromParams, rangeParams, resolve, TimeRangePicker } from "../time";

interface LogGroup {
  logGroupName: string;
  creationTime: number;
  retentionInDays?: number;
  storedBytes?: number;
  metricFilterCount?: number;
}

export function LogGroups({ route }: { route: Route }) {
  const prefix = route.params.get("prefix") ?? "";
  const { data, error, loading } = useLoad(() => allPages<LogGroup>("DescribeLogGroups", {}, "logGroups", 5000), []);
  const groups = (data ?? []).filter((g) => g.logGroupName.toLowerCase().includes(prefix.toLowerCase()));
  return (
    <section>
      <header class="view-header">
        <h1>Log groups</h1>
        <input
          type="search"
          data-search
          placeholder="Filter log groups"
          aria-label="Filter log groups"
          value={prefix}
          onInput={(e) => replaceParams({ prefix: (e.target as HTMLInputElement).value })}
        />
      </header>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="Loading log groups" />}
      {data && data.length === 0 && (
        <Empty title="No log groups yet">
          <p>Send logs with the aws CLI, boto3, an OpenTelemetry SDK or the CloudWatch agent pointed at fluoro:</p>
          <Code>{`aws --endpoint-url ${ENDPOINT} logs create-log-group --log-group-name /my/app
aws --endpoint-url ${ENDPOINT} logs create-log-stream --log-group-name /my/app --log-stream-name main
aws --endpoint-url ${ENDPOINT} logs put-log-events --log-group-name /my/app --log-stream-name main \\
    --log-events timestamp=$(date +%s000),message="hello fluoro"`}</Code>
          <p>OTLP logs: export to {ENDPOINT}/v1/logs (HTTP) or port 4317 (gRPC).</p>
        </Empty>
      )}
      {data && data.length > 0 && (
        <table class="grid" data-testid="log-groups">
          <thead>
            <tr>
              <th>Log group</th>
              <th>Retention</th>
              <th class="num">Stored</th>
              <th class="num">Metric filters</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr>
                <td>
                  <a href={href("/logs/group", { name: g.logGroupName })}>{g.logGroupName}</a>
                </td>
                <td>{g.retentionInDays ? `${g.retentionInDays} days` : "Never expire"}</td>
                <td class="num">{fmtBytes(g.storedBytes)}</td>
                <td class="num">{g.metricFilterCount ?? 0}</td>
                <td>{fmtTime(g.creationTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface LogStream {
  logStreamName: string;
  creationTime: number;
  firstEventTimestamp?: number;
  lastEventTimestamp?: number;
  storedBytes?: number;
}

interface MetricFilter {
  filterName: string;
  filterPattern: string;
  metricTransformations: { metricName: string; metricNamespace: string; metricValue: string }[];
}

export function LogGroup({ route }: { route: Route }) {
  const name = route.params.get("name") ?? "";
  const streams = useLoad(
    () => logs<{ logStreams: LogStream[] }>("DescribeLogStreams", { logGroupName: name, orderBy: "LastEventTime", descending: true, limit: 50 }),
    [name],
  );
  const filters = useLoad(() => allPages<MetricFilter>("DescribeMetricFilters", { logGroupName: name }, "metricFilters"), [name]);
  return (
    <section>
      <nav class="crumbs">
        <a href="#/logs">Log groups</a> / <span>{name}</span>
      </nav>
      <header class="view-header">
        <h1>{name}</h1>
        <a class="button primary" href={href("/logs/events", { group: name })}>
          View events
        </a>
        <a class="button" href={href("/insights", { groups: name })}>
          Query in Insights
        </a>
      </header>
      <h2>Log streams</h2>
      <ErrorBox error={streams.error} />
      {streams.loading && !streams.data && <Loading />}
      {streams.data && streams.data.logStreams.length === 0 && <Empty title="No log streams in this group" />}
      {streams.data && streams.data.logStreams.length > 0 && (
        <table class="grid" data-testid="log-streams">
          <thead>
            <tr>
              <th>Log stream</th>
              <th>Last event</th>
              <th>First event</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {streams.data.logStreams.map((s) => (
              <tr>
                <td>
                  <a href={href("/logs/events", { group: name, stream: s.logStreamName })}>{s.logStreamName}</a>
                </td>
                <td>{fmtTime(s.lastEventTimestamp)}</td>
                <td>{fmtTime(s.firstEventTimestamp)}</td>
                <td>{fmtTime(s.creationTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Metric filters</h2>
      <ErrorBox error={filters.error} />
      {filters.data && filters.data.length === 0 && (
        <p class="muted">
          No metric filters. Create one with <code>aws logs put-metric-filter --endpoint-url {ENDPOINT} …</code>
        </p>
      )}
      {filters.data && filters.data.length > 0 && (
        <table class="grid" data-testid="metric-filters">
          <thead>
            <tr>
              <th>Filter</th>
              <th>Pattern</th>
              <th>Metric</th>
              <th>Value</th>
            </tr>
          </thead>
          <tbody>
            {filters.data.map((f) => (
              <tr>
                <td>{f.filterName}</td>
                <td>
                  <code>{f.filterPattern || "(all events)"}</code>
                </td>
                <td>
                  {f.metricTransformations.map((t) => (
                    <a href={href("/metrics", { ns: t.metricNamespace, metric: t.metricName })}>
                      {t.metricNamespace} / {t.metricName}
                    </a>
                  ))}
                </td>
                <td>{f.metricTransformations.map((t) => t.metricValue).join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface LogEvent {
  logStreamName?: string;
  logGroupName?: string;
  timestamp: number;
  ingestionTime?: number;
  message: string;
  eventId?: string;
}

/** One message, pretty-printed when it is JSON. */
export function Message({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  const trimmed = text.trim();
  if (trimmed.startsWith("{") && open) {
    try {
      return (
        <pre class="message open" onClick={() => setOpen(false)}>
          {JSON.stringify(JSON.parse(trimmed), null, 2)}
        </pre>
      );
    } catch {
      /* not JSON after all */
    }
  }
  return (
    <pre class="message" onClick={() => setOpen(!open)}>
      {text}
    </pre>
  );
}

export function LogEvents({ route }: { route: Route }) {
  const group = route.params.get("group") ?? "";
  const stream = route.params.get("stream") ?? "";
  const pattern = route.params.get("filter") ?? "";
  const range = rangeFromParams(route.params);
  const tailing = route.params.get("tail") === "1";
  const [events, setEvents] = useState<LogEvent[]>([]);
  const [nextToken, setNextToken] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(false);
  const [tail, setTail] = useState<LogEvent[]>([]);
  const [tailState, setTailState] = useState("");
  const span = useRef({ start: 0, end: 0 });

  const load = async (token?: string) => {
    setLoading(true);
    setError(undefined);
    try {
      if (!token) span.current = resolve(range);
      const input: Record<string, unknown> = {
        logGroupName: group,
        startTime: span.current.start,
        endTime: span.current.end,
        limit: 200,
      };
      if (stream) input.logStreamNames = [stream];
      if (pattern) input.filterPattern = pattern;
      if (token) input.nextToken = token;
      const page = await logs<{ events: LogEvent[]; nextToken?: string }>("FilterLogEvents", input);
      setEvents((old) => (token ? [...old, ...page.events] : page.events));
      setNextToken(page.nextToken);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    load();
  }, [group, stream, pattern, JSON.stringify(range)]);

  useEffect(() => {
    if (!tailing) return;
    const query = new URLSearchParams({ logGroupName: group });
    if (pattern) query.set("filterPattern", pattern);
    const source = new EventSource(`/api/v1/logs/tail?${query}`);
    setTail([]);
    setTailState("Connecting…");
    source.onopen = () => setTailState("Live: new events appear as they arrive");
    source.addEventListener("events", (e) => {
      const batch = JSON.parse((e as MessageEvent).data) as LogEvent[];
      const shown = stream ? batch.filter((ev) => ev.logStreamName === stream) : batch;
      setTail((old) => [...shown.reverse(), ...old].slice(0, 1000));
    });
    source.addEventListener("lagged", () => setTailState("Live: some events were skipped (too many to show)"));
    source.onerror = () => setTailState("Disconnected; retrying…");
    return () => source.close();
  }, [tailing, group, pattern, stream]);

  return (
    <section>
      <nav class="crumbs">
        <a href="#/logs">Log groups</a> / <a href={href("/logs/group", { name: group })}>{group}</a>
        {stream && <span> / {stream}</span>}
      </nav>
      <header class="view-header">
        <h1>Log events</h1>
        <TimeRangePicker value={range} onChange={(r) => replaceParams(rangeParams(r))} />
        <button
          class={tailing ? "primary" : ""}
          aria-pressed={tailing}
          data-testid="live-tail"
          onClick={() => replaceParams({ tail: tailing ? undefined : "1" })}
        >
          {tailing ? "Stop live tail" : "Live tail"}
        </button>
      </header>
      <FilterBar
        value={pattern}
        label="Filter pattern"
        placeholder='Filter pattern, e.g. ERROR, "timed out", { $.level = "error" }, [ip, user, status=5*]'
        onApply={(text) => replaceParams({ filter: text })}
      />
      {tailing && (
        <div class="tail" data-testid="tail">
          <div class="muted">{tailState}</div>
          {tail.length === 0 && <div class="muted">Waiting for new events…</div>}
          <EventTable events={tail} showStream={!stream} />
        </div>
      )}
      <ErrorBox error={error} />
      {!loading && !error && events.length === 0 && (
        <Empty title="No events in this time range">
          <p>Widen the time range or clear the filter pattern; live tail shows events as they arrive.</p>
        </Empty>
      )}
      {events.length > 0 && <EventTable events={events} showStream={!stream} />}
      {loading && <Loading what="Loading events" />}
      {nextToken && !loading && (
        <button onClick={() => load(nextToken)} data-testid="more">
          Load more
        </button>
      )}
    </section>
  );
}

export function EventTable({
  events,
  showStream,
  showGroup,
  compact,
}: {
  events: LogEvent[];
  showStream?: boolean;
  showGroup?: boolean;
  /** A list for narrow panels: where and when above, the message below. */
  compact?: boolean;
}) {
  if (events.length === 0) return null;
  if (compact) {
    return (
      <ul class="plain events compact" data-testid="events">
        {events.map((e) => (
          <li key={e.eventId}>
            <div class="muted">
              {fmtTime(e.timestamp)} · <a href={href("/logs/events", { group: e.logGroupName, stream: e.logStreamName })}>{e.logGroupName}</a> /{" "}
              {e.logStreamName}
            </div>
            <Message text={e.message} />
          </li>
        ))}
      </ul>
    );
  }
  return (
    <table class="grid events" data-testid="events">
      <thead>
        <tr>
          <th class="time">Time</th>
          {showGroup && <th>Log group</th>}
          {showStream && <th>Stream</th>}
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.eventId}>
            <td class="time">{fmtTime(e.timestamp)}</td>
            {showGroup && <td>{e.logGroupName}</td>}
            {showStream && <td class="stream">{e.logStreamName}</td>}
            <td>
              <Message text={e.message} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
