#!/usr/bin/env python3
"""Distributed-query figures: aggregate queries over the events of gen_logs.py in a bucket, run
in-process on a query node and then on a Ballista cluster of 1 and 2 executors.

Starts, on loopback: a throwaway PostgreSQL cluster and moto's S3 server (as bench/cluster.py
does), one `fluoro collector` that ingests the events (`fluoro-bench cluster`) and flushes them
to the bucket, then for each configuration a `fluoro query` node, and for the distributed ones
`fluoro ballista-scheduler` with N × `fluoro ballista-executor`. Each query runs --runs times;
the table gives the median and the best, in seconds. The data stays in the bucket between
configurations, so each reads the same files.

    cargo build --release -p fluoro -p fluoro-bench --bins
    python3 bench/ballista.py --input logs-10M.jsonl --events 10000000
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from cluster import free_port, start_infrastructure, wait_http

QUERIES = [
    ("Insights: 5xx by path, parsed from the message",
     "insights",
     "parse @message '\"* * HTTP/*\" * ' as method, path, proto, status | filter status >= 500 "
     "| stats count(*) as n by path | sort n desc | limit 10"),
    ("Insights: events and bytes per group",
     "insights",
     "stats count(*) as n, sum(strlen(@message)) as bytes by @log | sort @log"),
    ("SQL: events, bytes and distinct streams per group",
     "sql",
     "SELECT log_group, count(*) AS n, sum(length(message)) AS bytes, count(DISTINCT log_stream) AS streams "
     "FROM logs GROUP BY log_group ORDER BY log_group"),
]


def aws(port, target, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=json.dumps(body).encode(),
        headers={"x-amz-target": f"Logs_20140328.{target}", "content-type": "application/x-amz-json-1.1"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def run_insights(port, query, start_s, end_s):
    groups = [g["logGroupName"] for g in aws(port, "DescribeLogGroups", {})["logGroups"]]
    began = time.monotonic()
    qid = aws(port, "StartQuery", {"logGroupNames": groups, "startTime": start_s, "endTime": end_s,
                                   "queryString": query, "limit": 10000})["queryId"]
    while True:
        result = aws(port, "GetQueryResults", {"queryId": qid})
        if result["status"] in ("Complete", "Failed", "Cancelled", "Timeout"):
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - began
    assert result["status"] == "Complete", result
    rows = [{f["field"]: f["value"] for f in row} for row in result["results"]]
    return elapsed, rows


def run_sql(port, query):
    began = time.monotonic()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/sql", data=json.dumps({"query": query}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())
    return time.monotonic() - began, answer["rows"]


def start_node(args, root, config, name, extra):
    http = free_port()
    log = open(root / f"{name}.log", "wb")
    proc = subprocess.Popen(
        [args.fluoro, "query", "--config", str(config), "--data-dir", str(root / name), "--node-id", name,
         "--http-addr", f"127.0.0.1:{http}", "--query-timeout-secs", "3600", *extra], stdout=log, stderr=log)
    wait_http(f"http://127.0.0.1:{http}/health")
    return http, proc


def start_ballista(args, root, config, executors):
    procs = []
    port = free_port()
    log = open(root / "scheduler.log", "wb")
    procs.append(subprocess.Popen([args.fluoro, "ballista-scheduler", "--config", str(config),
                                   "--bind", f"127.0.0.1:{port}"], stdout=log, stderr=log))
    time.sleep(1)
    for n in range(executors):
        log = open(root / f"executor{n}.log", "wb")
        work = root / f"executor{n}"
        work.mkdir(exist_ok=True)
        procs.append(subprocess.Popen(
            [args.fluoro, "ballista-executor", "--config", str(config), "--scheduler", f"127.0.0.1:{port}",
             "--flight-port", str(free_port()), "--grpc-port", str(free_port()), "--work-dir", str(work),
             *(["--concurrent-tasks", str(args.tasks)] if args.tasks else [])], stdout=log, stderr=log))
    time.sleep(3)  # executors register with their first heartbeat
    return f"df://127.0.0.1:{port}", procs


def cpu_seconds(proc):
    """User + system CPU seconds `proc` has used so far (Linux /proc)."""
    fields = pathlib.Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_flushed(port, timeout=600):
    """Waits until the node at `port` holds no unflushed bytes (its `fluoro_buffer_bytes`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            held = [float(line.rsplit(" ", 1)[1]) for line in response.read().decode().splitlines()
                    if line.startswith("fluoro_buffer_bytes")]
        if held and not any(held):
            return
        time.sleep(0.25)
    raise RuntimeError(f"node on port {port} still holds unflushed data after {timeout} s")


def measure(args, port, start_s, end_s):
    figures = []
    for name, kind, query in QUERIES:
        times, rows = [], None
        for _ in range(args.runs):
            elapsed, rows = run_insights(port, query, start_s, end_s) if kind == "insights" else run_sql(port, query)
            times.append(elapsed)
        figures.append((name, statistics.median(times), min(times), rows))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--executors", default="1,2", help="executor counts to measure")
    parser.add_argument("--tasks", type=int, default=0, help="tasks per executor [default: its CPUs]")
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    parser.add_argument("--fluoro", default=f"{target}/release/fluoro")
    parser.add_argument("--bench", default=f"{target}/release/fluoro-bench")
    parser.add_argument("--moto", default=shutil.which("moto_server") or "moto_server")
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="fluoro-ballista-bench"))
    infra = start_infrastructure(args, root)
    procs = list(infra.procs)
    try:
        http = free_port()
        log = open(root / "collector.log", "wb")
        procs.append(subprocess.Popen(
            [args.fluoro, "collector", "--config", str(infra.config), "--data-dir", str(root / "collector"),
             "--node-id", "collector", "--http-addr", f"127.0.0.1:{http}", "--flush-bytes", str(256 << 20),
             # The collector takes the maintenance lease at start-up, for two days, and keeps it
             # while the queries run: no node compacts, so every configuration reads the same
             # files and no merge competes with the queries for the CPU.
             "--maintenance-interval-secs", "86400",
             "--otlp-grpc-addr", f"127.0.0.1:{free_port()}", "--otlp-http-addr", f"127.0.0.1:{free_port()}",
             "--xray-addr", f"127.0.0.1:{free_port()}"], stdout=log, stderr=log))
        wait_http(f"http://127.0.0.1:{http}/health")
        query_port, query_proc = start_node(args, root, infra.config, "loader-query", [])
        subprocess.run([args.bench, "cluster", "--input", args.input, "--events", str(args.events),
                        "--collectors", str(http), "--query", str(query_port), "--probes", "3"], check=True)
        query_proc.kill()
        # The collector stays up (idle) to hold the maintenance lease; wait until it has
        # flushed everything it acknowledged, so the queries see all the events.
        wait_flushed(http)
        now = int(time.time())
        start_s, end_s = now - 14 * 86_400, now + 3600
        results = {}
        configurations = [("in-process", 0)] + [(f"{n} executor(s)", n) for n in map(int, args.executors.split(","))]
        for label, executors in configurations:
            extra, ballista_procs = [], []
            if executors:
                url, ballista_procs = start_ballista(args, root, infra.config, executors)
                extra = ["--ballista", url, "--ballista-min-bytes", "1"]
            port, proc = start_node(args, root, infra.config, f"query-{executors}", extra)
            watched = {"query node": [proc], "scheduler": ballista_procs[:1], "executors": ballista_procs[1:],
                       "S3 server (moto)": infra.procs, "collector (idle)": procs[-1:]}
            before = {name: sum(map(cpu_seconds, ps)) for name, ps in watched.items()}
            try:
                results[label] = measure(args, port, start_s, end_s)
                cpu = {name: sum(map(cpu_seconds, ps)) - before[name] for name, ps in watched.items()}
            finally:
                proc.kill()
                for p in ballista_procs:
                    p.kill()
                    p.wait()
            node_log = (root / f"query-{executors}.log").read_text(errors="replace")
            sent, here = node_log.count("query sent to the Ballista cluster"), node_log.count("running it here")
            print(f"# {label}" + (f" ({sent} queries ran on the cluster, {here} fell back)" if executors else ""),
                  flush=True)
            for name, median, best, rows in results[label]:
                print(f"  {name}: median {median:.2f} s, best {best:.2f} s, {len(rows)} rows", flush=True)
            print("  CPU seconds over all runs: " + ", ".join(f"{name} {secs:.1f}" for name, secs in cpu.items() if secs),
                  flush=True)
        baseline = {name: rows for name, _, _, rows in results["in-process"]}
        counted = sum(int(row["n"]) for row in baseline[QUERIES[1][0]])
        print(f"\nevents the queries read (in-process count): {counted}")
        print("\n| query | " + " | ".join(results) + " |")
        print("|---|" + "---|" * len(results))
        for i, (name, _, _) in enumerate(QUERIES):
            cells = [f"{results[label][i][1]:.2f} s" for label in results]
            print(f"| {name} | " + " | ".join(cells) + " |")
        for label, figures in results.items():
            for name, _, _, rows in figures:
                if rows != baseline[name]:
                    print(f"MISMATCH: {label}, {name}: {rows[:3]} vs {baseline[name][:3]}")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        infra.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
