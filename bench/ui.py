#!/usr/bin/env python3
"""How fast each view of the web UI shows its data, in headless Chromium, against a release
fluoro serving a data directory filled by `fluoro-bench ingest --keep-data DIR`.

    target/release/fluoro-bench ingest --input logs-10M.jsonl --events 1000000 --keep-data /tmp/fluoro-1M
    python3 bench/ui.py --data-dir /tmp/fluoro-1M --fluoro target/release/fluoro \
        --load-spans spans-1M.otlp.jsonl --traces-hour 2026-11-22T02:00:00Z    # spans: once

`--load-spans` posts each line of a gen_spans.py OTLP JSON file to /v1/traces first (do it once
per data directory); `--traces-hour` is the hour the traces and service-map views show.

For each view: a new browser context (nothing cached: the page, its script and its API calls all
load), then the time from navigation start until the view's data is in the page (recorded by
the page itself with a MutationObserver); the median and the slowest of --runs runs, then the
same with the browser's cache warm (a reload). Not a test:
nothing here asserts a speed. Needs `playwright` (pip) and Debian's chromium."""

import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright


def free_ports(n):
    held, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
        ports.append(s.getsockname()[1])
    for s in held:
        s.close()
    return ports


def post(endpoint, path, body):
    request = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.load(r)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--fluoro", default="target/release/fluoro")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-spans", help="OTLP JSON lines (gen_spans.py --format otlp) to send first")
    parser.add_argument("--traces-hour", help="ISO start of the hour the trace views show (default: the logs' span)")
    args = parser.parse_args()

    http, grpc, otlp_http, xray = free_ports(4)
    endpoint = f"http://127.0.0.1:{http}"
    log = open(os.path.join(args.data_dir, "..", "fluoro-ui-bench.log"), "ab")
    server = subprocess.Popen([
        args.fluoro, "serve", "--data-dir", args.data_dir, "--http-addr", f"127.0.0.1:{http}",
        "--otlp-grpc-addr", f"127.0.0.1:{grpc}", "--otlp-http-addr", f"127.0.0.1:{otlp_http}",
        "--xray-addr", f"127.0.0.1:{xray}"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(endpoint + "/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("fluoro did not start")
                time.sleep(0.2)
        if args.load_spans:
            load_spans(endpoint, args.load_spans)
        run(args, endpoint)
    finally:
        server.terminate()
        server.wait(timeout=60)


def load_spans(endpoint, path):
    started, spans = time.monotonic(), 0
    with open(path, "rb") as f:
        for line in f:
            request = urllib.request.Request(endpoint + "/v1/traces", data=line,
                                             headers={"content-type": "application/json"})
            while True:
                try:
                    urllib.request.urlopen(request, timeout=120).read()
                    break
                except urllib.error.HTTPError as e:
                    if e.code not in (429, 503):
                        raise
                    time.sleep(0.5)
            spans += line.count(b'"spanId"')
    print(f"loaded {spans:,} spans in {time.monotonic() - started:.0f} s")


# The page records when the view's data first appears (ms since navigation start), so the
# figure is the page's own, not the driver's polling.
WATCH = """
(() => {
  const selector = %s;
  const check = () => {
    if (window.__shown === undefined && document.querySelector(selector)) window.__shown = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""


def css(ready):
    """Playwright's `:text()` is not CSS: the overview is ready when no card shows '…'."""
    return "[data-testid=overview] a:first-child strong" if ":text" in ready else ready


def shown(page, ready):
    page.locator(ready).first.wait_for(timeout=60_000)
    if ":text" in ready:  # the overview: its cards' numbers, all loaded at once
        page.wait_for_function("!document.querySelector('[data-testid=overview]').innerText.includes('…')")
        return page.evaluate("performance.now()") / 1000
    return page.evaluate("window.__shown") / 1000


def run(args, endpoint):
    groups = post(endpoint, "/api/v1/logs/DescribeLogGroups", {"limit": 50})["logGroups"]
    if not groups:
        sys.exit("the data directory holds no log groups")
    stats = post(endpoint, "/api/v1/sql", {"query": "SELECT count(*) AS n, CAST(min(timestamp) AS BIGINT) AS lo, CAST(max(timestamp) AS BIGINT) AS hi FROM logs"})
    row = stats["rows"][0]
    total, lo, hi = row["n"], row["lo"], row["hi"]
    busiest = max(groups, key=lambda g: g.get("storedBytes", 0))["logGroupName"]
    streams = post(endpoint, "/api/v1/sql", {"query": "SELECT log_group, count(DISTINCT log_stream) AS n FROM logs "
                                                      "GROUP BY log_group ORDER BY n DESC LIMIT 1"})["rows"][0]
    print(f"{total:,} events stored in {len(groups)}+ log groups; most bytes: {busiest}; "
          f"most streams: {streams['log_group']} ({streams['n']:,} streams)")
    window = f"start={lo}&end={hi + 1}"
    traces_window = window
    if args.traces_hour:
        hour = int(datetime.datetime.fromisoformat(args.traces_hour.replace("Z", "+00:00")).timestamp() * 1000)
        traces_window = f"start={hour}&end={hour + 3_600_000}"
    group = urllib.parse.quote(busiest, safe="")
    views = [
        ("overview", "/#/", "[data-testid=overview] strong:not(:text('…'))"),
        ("log groups", "/#/logs", "[data-testid=log-groups] tbody tr"),
        ("log group", f"/#/logs/group?name={urllib.parse.quote(streams['log_group'], safe='')}",
         "[data-testid=log-streams] tbody tr"),
        ("log events", f"/#/logs/events?group={group}&{window}", "[data-testid=events] tbody tr"),
        ("insights", f"/#/insights?groups={group}&{window}", "[data-testid=query-editor]"),
        ("traces", f"/#/traces?{traces_window}", "[data-testid=trace-list], .empty"),
        ("trace search", f"/#/traces?{traces_window}&filter=" + urllib.parse.quote('service("checkout-service") AND fault'),
         "[data-testid=trace-list], .empty"),
        ("service map", f"/#/map?{traces_window}", "[data-testid=service-map], .empty"),
        ("metrics", "/#/metrics", "[data-testid=namespaces] li, .empty"),
        ("alarms", "/#/alarms", "[data-testid=alarm-list], .empty"),
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        print(f"{'view':<14}{'cold median':>13}{'cold max':>11}{'warm median':>13}{'warm max':>11}")
        for name, path, ready in views:
            cold, warm = [], []
            for _ in range(args.runs):
                context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=endpoint)
                context.add_init_script(WATCH % json.dumps(css(ready)))
                page = context.new_page()
                page.goto(path, wait_until="commit")
                cold.append(shown(page, ready))
                page.reload(wait_until="commit")
                warm.append(shown(page, ready))
                context.close()
            ms = lambda xs, f: f"{f(xs) * 1000:.0f} ms"
            print(f"{name:<14}{ms(cold, statistics.median):>13}{ms(cold, max):>11}{ms(warm, statistics.median):>13}{ms(warm, max):>11}")
        browser.close()


if __name__ == "__main__":
    main()
