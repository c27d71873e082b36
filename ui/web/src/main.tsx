import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { getJson, logs, postJson, SIGN_IN_EVENT, xray } from "./api";
import { Code, ENDPOINT, ErrorBox, useLoad } from "./common";
import { fmtNumber } from "./format";
import { href, navigate, useRoute, type Route } from "./router";
import "./style.css";
import { Alarm, Alarms } from "./views/alarms";
import { Insights } from "./views/insights";
import { LogEvents, LogGroup, LogGroups } from "./views/logs";
import { Metrics } from "./views/metrics";
import { ServiceMap } from "./views/servicemap";
import { Trace, Traces } from "./views/traces";

const VIEWS: Record<string, (props: { route: Route }) => any> = {
  "/": Home,
  "/logs": LogGroups,
  "/logs/group": LogGroup,
  "/logs/events": LogEvents,
  "/insights": Insights,
  "/traces": Traces,
  "/traces/trace": Trace,
  "/map": ServiceMap,
  "/metrics": Metrics,
  "/alarms": Alarms,
  "/alarms/alarm": Alarm,
};

const NAV: [string, string, string][] = [
  ["/logs", "Log groups", "l"],
  ["/insights", "Insights", "i"],
  ["/traces", "Traces", "t"],
  ["/map", "Service map", "s"],
  ["/metrics", "Metrics", "m"],
  ["/alarms", "Alarms", "a"],
];

interface Session {
  authRequired: boolean;
  authenticated: boolean;
  accountId: string | null;
}

/** The app, or the sign-in form when fluoro has access keys and there is no session. */
function Root() {
  const [session, setSession] = useState<Session | null>(null);
  useEffect(() => {
    getJson<Session>("/api/v1/session")
      .then(setSession)
      .catch(() => setSession({ authRequired: false, authenticated: true, accountId: null }));
    const ask = () => setSession((s) => ({ authRequired: true, authenticated: false, accountId: s?.accountId ?? null }));
    window.addEventListener(SIGN_IN_EVENT, ask);
    return () => window.removeEventListener(SIGN_IN_EVENT, ask);
  }, []);
  if (session === null) return null;
  return session.authRequired && !session.authenticated ? <SignIn /> : <App session={session} />;
}

async function signOut() {
  await postJson("/api/v1/logout", {});
  location.reload();
}

function SignIn() {
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    try {
      await postJson("/api/v1/login", {
        accessKeyId: form.get("accessKeyId"),
        secretAccessKey: form.get("secretAccessKey"),
      });
      location.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <main id="main" class="sign-in">
      <h1>
        <span class="logo" aria-hidden="true" /> fluoro
      </h1>
      <p class="muted">This fluoro requires an access key. Sign in with one of its keys.</p>
      <form onSubmit={submit}>
        <label>
          Access key ID <input name="accessKeyId" autocomplete="username" required autofocus />
        </label>
        <label>
          Secret access key <input name="secretAccessKey" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Sign in</button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
    </main>
  );
}

function App({ session }: { session: Session }) {
  const route = useRoute();
  const View = VIEWS[route.path] ?? NotFound;
  useEffect(() => {
    const section = NAV.find(([path]) => route.path.startsWith(path))?.[1];
    document.title = section ? `${section} · fluoro` : "fluoro";
  }, [route.path]);
  useKeyboard();
  return (
    <div class="app">
      <nav class="sidebar" aria-label="Views">
        <a href="#/" class="brand">
          <span class="logo" aria-hidden="true" /> fluoro
        </a>
        {NAV.map(([path, label, key]) => (
          <a
            href={`#${path}`}
            class={route.path === path || route.path.startsWith(`${path}/`) ? "active" : ""}
            aria-current={route.path.startsWith(path) ? "page" : undefined}
            title={`g then ${key}`}
          >
            {label}
          </a>
        ))}
        <div class="help muted">
          <kbd>/</kbd> search · <kbd>g</kbd> <kbd>l</kbd>/<kbd>i</kbd>/<kbd>t</kbd>/<kbd>s</kbd>/<kbd>m</kbd>/<kbd>a</kbd> go ·{" "}
          <kbd>Ctrl</kbd>+<kbd>Enter</kbd> run
        </div>
        {session.authRequired ? (
          <div class="account muted">
            Account <span data-testid="account-id">{session.accountId}</span>
            <button type="button" class="link" onClick={signOut}>
              Sign out
            </button>
          </div>
        ) : null}
      </nav>
      <main id="main">
        <View route={route} />
      </main>
    </div>
  );
}

/** `/` focuses the view's search box; `g` then a letter goes to a view. */
function useKeyboard() {
  useEffect(() => {
    let pendingG = 0;
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (target.closest("input, textarea, select, [contenteditable]") || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "/") {
        const search = document.querySelector<HTMLInputElement>("[data-search], textarea.editor");
        if (search) {
          e.preventDefault();
          search.focus();
        }
      } else if (e.key === "g") {
        pendingG = Date.now();
      } else if (Date.now() - pendingG < 1500) {
        const target = NAV.find(([, , key]) => key === e.key);
        if (target) navigate(target[0]);
        pendingG = 0;
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}

function NotFound({ route }: { route: Route }) {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no view at <code>{route.path}</code>. <a href="#/">Go to the overview</a>.
      </p>
    </section>
  );
}

function Home() {
  const overview = useLoad(async (signal) => {
    const now = Date.now() / 1000;
    const [groups, traces, alarms, namespaces] = await Promise.all([
      logs<{ logGroups: unknown[]; nextToken?: string }>("DescribeLogGroups", { limit: 50 }, signal),
      xray<{ TraceSummaries: unknown[]; NextToken?: string }>("GetTraceSummaries", { StartTime: now - 3600, EndTime: now }, signal),
      getJson<{ alarms: { state: string }[] }>("/api/v1/alarms", signal),
      getJson<{ namespaces: unknown[] }>("/api/v1/metrics/namespaces", signal),
    ]);
    return {
      groups: `${groups.logGroups.length}${groups.nextToken ? "+" : ""}`,
      traces: `${traces.TraceSummaries.length}${traces.NextToken ? "+" : ""}`,
      alarms: alarms.alarms.length,
      inAlarm: alarms.alarms.filter((a) => a.state === "ALARM").length,
      namespaces: namespaces.namespaces.length,
    };
  }, []);
  const d = overview.data;
  return (
    <section>
      <h1>Overview</h1>
      <ErrorBox error={overview.error} />
      <div class="cards" data-testid="overview">
        <a class="card" href={href("/logs")}>
          <strong>{d?.groups ?? "…"}</strong> log groups
        </a>
        <a class="card" href={href("/traces")}>
          <strong>{d?.traces ?? "…"}</strong> traces in the last hour
        </a>
        <a class="card" href={href("/metrics")}>
          <strong>{d ? fmtNumber(d.namespaces) : "…"}</strong> metric namespaces
        </a>
        <a class={`card ${d && d.inAlarm > 0 ? "alarm" : ""}`} href={href("/alarms", d && d.inAlarm > 0 ? { state: "ALARM" } : {})}>
          <strong>{d ? `${d.inAlarm} / ${d.alarms}` : "…"}</strong> alarms in ALARM
        </a>
      </div>
      <h2>Point your clients at fluoro</h2>
      <Code>{`# aws CLI and boto3 (CloudWatch Logs, CloudWatch, X-Ray)
aws --endpoint-url ${ENDPOINT} logs describe-log-groups
AWS_ENDPOINT_URL=${ENDPOINT} python app.py

# X-Ray SDKs and the X-Ray daemon protocol
AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000

# OpenTelemetry SDKs and collectors (traces, metrics, logs)
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318   # or gRPC on :4317`}</Code>
    </section>
  );
}

render(<Root />, document.getElementById("app")!);
