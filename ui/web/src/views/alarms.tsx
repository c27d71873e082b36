// Alarms: the list with states, and one alarm with its metric chart, threshold and history.
import { getJson } from "../api";
import { Chart } from "../chart";
import { Code, Empty, ENDPOINT, ErrorBox, Loading, StateBadge, useInterval, useLoad } from "../common";
import { fmtTime } from "../format";
import { href, replaceParams, type Route } from "../router";
import { rangeFromParams, rangeParams, resolve, TimeRangePicker } from "../time";
import { autoPeriod, fetchSeries } from "./metrics";

interface AlarmRow {
  name: string;
  type: string;
  state: string;
  reason: string;
  updated: number;
  transitioned?: number;
  metric?: string;
  namespace?: string;
  rule?: string;
  description?: string;
}

export function Alarms({ route }: { route: Route }) {
  const stateFilter = route.params.get("state") ?? "";
  const list = useLoad((signal) => getJson<{ alarms: AlarmRow[] }>("/api/v1/alarms", signal), []);
  useInterval(list.reload, 5000);
  const alarms = (list.data?.alarms ?? [])
    .filter((a) => !stateFilter || a.state === stateFilter)
    .sort((a, b) => order(a.state) - order(b.state) || a.name.localeCompare(b.name));
  const count = (s: string) => (list.data?.alarms ?? []).filter((a) => a.state === s).length;
  return (
    <section>
      <header class="view-header">
        <h1>Alarms</h1>
        <div class="tabs" role="tablist">
          {["", "ALARM", "INSUFFICIENT_DATA", "OK"].map((s) => (
            <button role="tab" aria-selected={stateFilter === s} onClick={() => replaceParams({ state: s })}>
              {s || "All"} {s && `(${count(s)})`}
            </button>
          ))}
        </div>
      </header>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Loading what="Loading alarms" />}
      {list.data && list.data.alarms.length === 0 && (
        <Empty title="No alarms yet">
          <p>Create one with the aws CLI or boto3:</p>
          <Code>{`aws --endpoint-url ${ENDPOINT} cloudwatch put-metric-alarm --alarm-name high-latency \\
    --namespace MyApp --metric-name Latency --statistic Average --period 60 \\
    --evaluation-periods 1 --threshold 500 --comparison-operator GreaterThanThreshold`}</Code>
        </Empty>
      )}
      {alarms.length > 0 && (
        <table class="grid" data-testid="alarm-list">
          <thead>
            <tr>
              <th>Alarm</th>
              <th>State</th>
              <th>Since</th>
              <th>Condition</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {alarms.map((a) => (
              <tr data-alarm={a.name} data-state={a.state}>
                <td class="nowrap">
                  <a href={href("/alarms/alarm", { name: a.name })}>{a.name}</a>
                </td>
                <td>
                  <StateBadge state={a.state} />
                </td>
                <td class="time">{fmtTime(a.transitioned ?? a.updated)}</td>
                <td class="muted">{a.type === "CompositeAlarm" ? a.rule : `${a.namespace ?? ""} ${a.metric ?? "(metric math)"}`}</td>
                <td class="reason">{a.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function order(state: string) {
  return state === "ALARM" ? 0 : state === "INSUFFICIENT_DATA" ? 1 : 2;
}

const OPERATORS: Record<string, string> = {
  GreaterThanOrEqualToThreshold: ">=",
  GreaterThanThreshold: ">",
  LessThanThreshold: "<",
  LessThanOrEqualToThreshold: "<=",
  LessThanLowerOrGreaterThanUpperThreshold: "outside the band",
  LessThanLowerThreshold: "below the band",
  GreaterThanUpperThreshold: "above the band",
};

export function Alarm({ route }: { route: Route }) {
  const name = route.params.get("name") ?? "";
  const range = rangeFromParams(route.params, "3h");
  const detail = useLoad((signal) => getJson<any>(`/api/v1/alarms/detail?name=${encodeURIComponent(name)}`, signal), [name]);
  useInterval(detail.reload, 10000);
  const config = detail.data?.configuration ?? {};
  const chart = useLoad(
    async (signal) => {
      if (!detail.data || detail.data.type === "CompositeAlarm") return null;
      const { start, end } = resolve(range);
      const queries = config.Metrics
        ? config.Metrics
        : [
            {
              Id: "m",
              Label: config.MetricName,
              MetricStat: {
                Metric: { Namespace: config.Namespace, MetricName: config.MetricName, Dimensions: config.Dimensions ?? [] },
                Period: config.Period ?? autoPeriod(start, end),
                Stat: config.ExtendedStatistic ?? config.Statistic ?? "Average",
              },
              ReturnData: true,
            },
          ];
      return fetchSeries(queries, start, end, signal);
    },
    [JSON.stringify(config), JSON.stringify(range), detail.data?.type],
  );
  const threshold =
    typeof config.Threshold === "number" ? { value: config.Threshold, label: `threshold ${OPERATORS[config.ComparisonOperator] ?? ""} ${config.Threshold}` } : undefined;
  const alarm = detail.data;
  return (
    <section>
      <nav class="crumbs">
        <a href="#/alarms">Alarms</a> / <span>{name}</span>
      </nav>
      <header class="view-header">
        <h1>{name}</h1>
        {alarm && <StateBadge state={alarm.state} />}
        <TimeRangePicker value={range} onChange={(r) => replaceParams(rangeParams(r))} />
      </header>
      <ErrorBox error={detail.error} />
      {detail.loading && !alarm && <Loading />}
      {alarm && (
        <>
          <p class="reason">{alarm.reason}</p>
          {alarm.description && <p>{alarm.description}</p>}
          {alarm.type === "CompositeAlarm" ? (
            <>
              <h2>Rule</h2>
              <Code>{config.AlarmRule ?? ""}</Code>
              {alarm.triggeringAlarms.length > 0 && (
                <>
                  <h3>Triggering alarms</h3>
                  <ul class="plain">
                    {alarm.triggeringAlarms.map((t: any) => {
                      const child = String(t.arn ?? t).split(":alarm:").pop() ?? "";
                      return (
                        <li>
                          <a href={href("/alarms/alarm", { name: child })}>{child}</a> {t.state && <StateBadge state={t.state.value ?? t.state} />}
                        </li>
                      );
                    })}
                  </ul>
                </>
              )}
            </>
          ) : (
            <>
              <dl class="facts">
                {config.Namespace && (
                  <>
                    <dt>Metric</dt>
                    <dd>
                      {config.Namespace} / {config.MetricName}{" "}
                      {(config.Dimensions ?? []).map((d: any) => `${d.Name}=${d.Value}`).join(", ")}
                    </dd>
                  </>
                )}
                <dt>Condition</dt>
                <dd>
                  {config.ExtendedStatistic ?? config.Statistic ?? "expression"} {OPERATORS[config.ComparisonOperator] ?? config.ComparisonOperator}{" "}
                  {config.Threshold ?? config.ThresholdMetricId} for {config.DatapointsToAlarm ?? config.EvaluationPeriods} of{" "}
                  {config.EvaluationPeriods} periods of {config.Period ?? config.Metrics?.find((m: any) => m.MetricStat)?.MetricStat?.Period} s
                </dd>
                <dt>Missing data</dt>
                <dd>{config.TreatMissingData ?? "missing"}</dd>
              </dl>
              <ErrorBox error={chart.error} />
              {chart.data && <Chart series={chart.data} threshold={threshold} />}
            </>
          )}
          <h2>History</h2>
          <table class="grid" data-testid="alarm-history">
            <thead>
              <tr>
                <th>Time</th>
                <th>Type</th>
                <th>Summary</th>
              </tr>
            </thead>
            <tbody>
              {alarm.history.map((h: any) => (
                <tr>
                  <td>{fmtTime(h.timestamp)}</td>
                  <td>{h.type}</td>
                  <td>{h.summary}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
