// Logs Insights: editor, log group picker, saved queries and history, progress, results,
// a chart for `stats … by bin()`, export.
import { useEffect, useRef, useState } from "preact/hooks";
import { allPages, logs } from "../api";
import { Chart, type Series } from "../chart";
import { download, Empty, ErrorBox, Loading, useLoad } from "../common";
import { fmtBytes, fmtNumber, fmtTime } from "../format";
import { replaceParams, type Route } from "../router";
import { rangeFromParams, rangeParams, resolve, TimeRangePicker } from "../time";

const DEFAULT_QUERY = "fields @timestamp, @message, @logStream\n| sort @timestamp desc\n| limit 100";

type Field = { field: string; value: string };
interface Results {
  status: string;
  results: Field[][];
  statistics?: { recordsMatched?: number; recordsScanned?: number; bytesScanned?: number; logGroupsScanned?: number };
}

export function Insights({ route }: { route: Route }) {
  const groups = (route.params.get("groups") ?? "").split(",").filter(Boolean);
  const query = route.params.get("q") ?? DEFAULT_QUERY;
  const range = rangeFromParams(route.params);
  const [draft, setDraft] = useState(query);
  const [running, setRunning] = useState<string | null>(null);
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState<unknown>();
  const [ranQuery, setRanQuery] = useState("");
  const [saveName, setSaveName] = useState("");
  const [panel, setPanel] = useState<"saved" | "history">("saved");
  const allGroups = useLoad(() => allPages<{ logGroupName: string }>("DescribeLogGroups", {}, "logGroups", 5000), []);
  const saved = useLoad(() => allPages<any>("DescribeQueryDefinitions", {}, "queryDefinitions", 1000), []);
  const past = useLoad(() => logs<{ queries: any[] }>("DescribeQueries", { maxResults: 50 }), [running === null]);
  const editor = useRef<HTMLTextAreaElement>(null);
  const [groupFilter, setGroupFilter] = useState("");

  useEffect(() => setDraft(query), [query]);

  const run = async () => {
    setError(undefined);
    setResults(null);
    if (groups.length === 0) {
      setError(new Error("Pick at least one log group to query."));
      return;
    }
    replaceParams({ q: draft });
    const { start, end } = resolve(range);
    try {
      const { queryId } = await logs<{ queryId: string }>("StartQuery", {
        logGroupNames: groups,
        startTime: Math.floor(start / 1000),
        endTime: Math.ceil(end / 1000),
        queryString: draft,
      });
      setRunning(queryId);
      setRanQuery(draft);
    } catch (e) {
      setError(e);
    }
  };

  // Poll while running: partial results and statistics as they come.
  useEffect(() => {
    if (!running) return;
    let stopped = false;
    const poll = async () => {
      try {
        const out = await logs<Results>("GetQueryResults", { queryId: running });
        if (stopped) return;
        setResults(out);
        if (["Complete", "Failed", "Cancelled", "Timeout", "Unknown"].includes(out.status)) {
          if (out.status !== "Complete") setError(new Error(`The query ended: ${out.status}`));
          setRunning(null);
        } else {
          setTimeout(poll, 400);
        }
      } catch (e) {
        if (!stopped) {
          setError(e);
          setRunning(null);
        }
      }
    };
    poll();
    return () => {
      stopped = true;
    };
  }, [running]);

  const stop = async () => {
    if (running) await logs("StopQuery", { queryId: running }).catch(setError);
  };

  const toggleGroup = (name: string) => {
    const next = groups.includes(name) ? groups.filter((g) => g !== name) : [...groups, name];
    replaceParams({ groups: next.join(",") });
  };

  const save = async (e: Event) => {
    e.preventDefault();
    if (!saveName.trim()) return;
    try {
      await logs("PutQueryDefinition", { name: saveName.trim(), queryString: draft, logGroupNames: groups });
      setSaveName("");
      saved.reload();
    } catch (err) {
      setError(err);
    }
  };

  const rows = results?.results ?? [];
  const columns = [...new Set(rows.flatMap((r) => r.map((f) => f.field)))].filter((c) => c !== "@ptr");
  const table = rows.map((r) => Object.fromEntries(r.map((f) => [f.field, f.value])));
  const chart = chartOf(ranQuery, columns, table);
  const stats = results?.statistics;
  const filteredGroups = (allGroups.data ?? []).filter((g) => g.logGroupName.toLowerCase().includes(groupFilter.toLowerCase()));

  return (
    <section class="insights">
      <header class="view-header">
        <h1>Logs Insights</h1>
        <TimeRangePicker value={range} onChange={(r) => replaceParams(rangeParams(r))} />
      </header>
      <div class="split">
        <div class="main-col">
          <details class="group-picker" open={groups.length === 0}>
            <summary>
              Log groups: {groups.length === 0 ? <em>none selected</em> : groups.join(", ")}
            </summary>
            <input
              type="search"
              placeholder="Filter log groups"
              aria-label="Filter log groups"
              value={groupFilter}
              onInput={(e) => setGroupFilter((e.target as HTMLInputElement).value)}
            />
            <ErrorBox error={allGroups.error} />
            {allGroups.data && allGroups.data.length === 0 && <p class="muted">No log groups yet: send some logs first.</p>}
            <div class="checklist" data-testid="group-picker">
              {filteredGroups.slice(0, 200).map((g) => (
                <label>
                  <input type="checkbox" checked={groups.includes(g.logGroupName)} onChange={() => toggleGroup(g.logGroupName)} />{" "}
                  {g.logGroupName}
                </label>
              ))}
            </div>
          </details>
          <textarea
            ref={editor}
            class="editor mono"
            aria-label="Query"
            data-testid="query-editor"
            spellcheck={false}
            rows={Math.min(12, Math.max(4, draft.split("\n").length + 1))}
            value={draft}
            onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                run();
              }
            }}
          />
          <div class="toolbar">
            <button class="primary" onClick={run} disabled={running !== null} data-testid="run-query" title="Ctrl+Enter">
              Run query
            </button>
            {running && <button onClick={stop}>Stop</button>}
            <form class="inline" onSubmit={save}>
              <input
                placeholder="Name to save as"
                aria-label="Saved query name"
                value={saveName}
                onInput={(e) => setSaveName((e.target as HTMLInputElement).value)}
              />
              <button type="submit" disabled={!saveName.trim()}>
                Save
              </button>
            </form>
            {table.length > 0 && (
              <>
                <button onClick={() => download("insights.csv", "text/csv", toCsv(columns, table))}>Export CSV</button>
                <button onClick={() => download("insights.json", "application/json", JSON.stringify(table, null, 2))}>
                  Export JSON
                </button>
              </>
            )}
          </div>
          <ErrorBox error={error} />
          {(running || results) && (
            <div class="stats" data-testid="query-status">
              <strong>{results?.status ?? "Scheduled"}</strong>
              {stats && (
                <span>
                  {" "}
                  · {fmtNumber(stats.recordsMatched ?? 0)} records matched · {fmtNumber(stats.recordsScanned ?? 0)} scanned ·{" "}
                  {fmtBytes(stats.bytesScanned ?? 0)} scanned · {rows.length} rows
                </span>
              )}
            </div>
          )}
          {running && <Loading what="Running" />}
          {chart && <Chart series={chart} height={240} />}
          {results && results.status === "Complete" && rows.length === 0 && (
            <Empty title="No results">
              <p>No events matched in this time range and these log groups.</p>
            </Empty>
          )}
          {table.length > 0 && (
            <div class="scroll">
              <table class="grid results" data-testid="results">
                <thead>
                  <tr>
                    {columns.map((c) => (
                      <th>{c}</th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {table.map((row) => (
                    <tr>
                      {columns.map((c) => (
                        <td class={c === "@message" ? "message-cell" : ""}>{row[c] ?? ""}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
        <aside class="side-col">
          <div class="tabs" role="tablist">
            <button role="tab" aria-selected={panel === "saved"} onClick={() => setPanel("saved")}>
              Saved
            </button>
            <button role="tab" aria-selected={panel === "history"} onClick={() => setPanel("history")}>
              History
            </button>
          </div>
          {panel === "saved" && (
            <ul class="plain" data-testid="saved-queries">
              {saved.loading && !saved.data && <Loading />}
              {saved.data?.length === 0 && <li class="muted">No saved queries yet.</li>}
              {saved.data?.map((d) => (
                <li>
                  <button
                    class="link"
                    onClick={() => replaceParams({ q: d.queryString, groups: (d.logGroupNames ?? groups).join(",") })}
                  >
                    {d.name}
                  </button>
                  <button
                    class="link danger"
                    aria-label={`Delete ${d.name}`}
                    onClick={async () => {
                      await logs("DeleteQueryDefinition", { queryDefinitionId: d.queryDefinitionId }).catch(setError);
                      saved.reload();
                    }}
                  >
                    ×
                  </button>
                </li>
              ))}
            </ul>
          )}
          {panel === "history" && (
            <ul class="plain history" data-testid="history">
              {past.data?.queries.length === 0 && <li class="muted">No queries run yet.</li>}
              {past.data?.queries.map((q) => (
                <li>
                  <button class="link" onClick={() => replaceParams({ q: q.queryString })}>
                    <span class="mono">{q.queryString.slice(0, 80)}</span>
                  </button>
                  <div class="muted">
                    {q.status} · {fmtTime(q.createTime)}
                  </div>
                </li>
              ))}
            </ul>
          )}
        </aside>
      </div>
    </section>
  );
}

/** Insights prints bins as `2026-11-22 13:05:00.000` in UTC. */
function parseBin(text: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/.exec(text ?? "");
  if (!m) return null;
  const ms = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isFinite(ms) ? ms : null;
}

/** The chart of a `stats … by bin(…)` query: one series per numeric column (and per group). */
export function chartOf(query: string, columns: string[], rows: Record<string, string>[]): Series[] | null {
  if (!/\bstats\b[\s\S]*\bby\b[\s\S]*\bbin\s*\(/i.test(query) || rows.length === 0) return null;
  const timeColumn = columns.find((c) => rows.every((r) => r[c] === undefined || parseBin(r[c]) !== null));
  if (!timeColumn) return null;
  const numeric = columns.filter((c) => c !== timeColumn && rows.every((r) => r[c] === undefined || r[c] === "" || Number.isFinite(Number(r[c]))));
  const keys = columns.filter((c) => c !== timeColumn && !numeric.includes(c));
  if (numeric.length === 0) return null;
  const series = new Map<string, Series>();
  for (const row of rows) {
    const t = parseBin(row[timeColumn]);
    if (t === null) continue;
    const group = keys.map((k) => row[k]).join(" / ");
    for (const column of numeric) {
      const label = group ? (numeric.length > 1 ? `${group} ${column}` : group) : column;
      if (!series.has(label)) series.set(label, { label, points: [] });
      const value = row[column];
      series.get(label)!.points.push([t, value === undefined || value === "" ? null : Number(value)]);
    }
  }
  const list = [...series.values()].slice(0, 12);
  for (const s of list) s.points.sort((a, b) => a[0] - b[0]);
  return list;
}

export function toCsv(columns: string[], rows: Record<string, string>[]): string {
  const cell = (v: string | undefined) => {
    const text = v ?? "";
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.map(cell).join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}
