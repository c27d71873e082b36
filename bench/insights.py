#!/usr/bin/env python3
"""Logs Insights query figures: fluoro against DuckDB over the same data as Parquet, and
ripgrep over the raw file where it applies.

Prerequisites (see bench/README.md): a data directory filled by
`fluoro-bench ingest --keep-data DIR ...` from a gen_logs.py file, the release `fluoro`
binary, and a Python with boto3 and duckdb. The Parquet copy for DuckDB is made from the
same JSON lines (only timestamp, group, stream and message: what fluoro was given).

Each query runs once to warm up, then --runs times; the median is printed, with the ratio
fluoro ÷ DuckDB (goal ≤ 1.0) and ripgrep ÷ fluoro (goal ≥ 50 for the rare term).
"""
import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import duckdb
from botocore.config import Config


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


QUERIES = [
    ("rare-term count",
     'filter @message like "DeadlockDetected" | stats count(*) as n',
     "SELECT count(*) AS n FROM logs WHERE message LIKE '%DeadlockDetected%'",
     ["rg", "-c", "DeadlockDetected"]),
    ("ERROR per minute",
     "filter @message like /ERROR/ | stats count(*) as n by bin(1m)",
     "SELECT time_bucket(INTERVAL 1 minute, ts) AS b, count(*) AS n FROM logs "
     "WHERE message LIKE '%ERROR%' GROUP BY b ORDER BY b",
     None),
    ("Lambda REPORT by 5m",
     'filter @type = "REPORT" | stats avg(@duration) as avgDur, pct(@duration, 99) as p99, '
     "max(@maxMemoryUsed) as maxMem by bin(5m)",
     "SELECT time_bucket(INTERVAL 5 minute, ts) AS b, avg(d) AS avgDur, quantile_disc(d, 0.99) AS p99, "
     "max(m) AS maxMem FROM (SELECT ts, CAST(regexp_extract(message, 'Duration: ([0-9.]+) ms', 1) AS DOUBLE) AS d, "
     "CAST(regexp_extract(message, 'Max Memory Used: ([0-9]+) MB', 1) AS BIGINT) * 1000000 AS m "
     "FROM logs WHERE message LIKE 'REPORT RequestId:%') GROUP BY b ORDER BY b",
     None),
    ("top 10 paths by 5xx (parse)",
     "parse @message '\"* * HTTP/*\" * ' as method, path, proto, status | filter status >= 500 "
     "| stats count(*) as n by path | sort n desc | limit 10",
     "SELECT path, count(*) AS n FROM (SELECT regexp_extract(message, '\"[A-Z]+ ([^ ]+) HTTP/[^\"]*\" ([0-9]+) ', 1) AS path, "
     "TRY_CAST(regexp_extract(message, '\"[A-Z]+ ([^ ]+) HTTP/[^\"]*\" ([0-9]+) ', 2) AS INT) AS status FROM logs "
     "WHERE message LIKE '%HTTP/%') WHERE status >= 500 GROUP BY path ORDER BY n DESC LIMIT 10",
     None),
]


def export_parquet(jsonl, parquet):
    if os.path.exists(parquet):
        return
    print(f"exporting {jsonl} to {parquet} for DuckDB ...", flush=True)
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT CAST(timestamp AS TIMESTAMP) AS ts, log_group, log_stream, message
                  FROM read_json('{jsonl}', format='newline_delimited',
                       columns={{'timestamp': 'VARCHAR', 'log_group': 'VARCHAR', 'log_stream': 'VARCHAR', 'message': 'VARCHAR'}}))
            TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)""")


def timed(fn, runs):
    fn()  # warm-up
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, help="the gen_logs.py JSON lines that were ingested")
    ap.add_argument("--data-dir", required=True, help="fluoro data directory (fluoro-bench ingest --keep-data)")
    ap.add_argument("--fluoro", required=True, help="the release fluoro binary")
    ap.add_argument("--parquet", help="DuckDB's Parquet copy [default: INPUT with .parquet]")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    parquet = args.parquet or os.path.splitext(args.input)[0] + ".parquet"
    export_parquet(args.input, parquet)

    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="fluoro-bench-", suffix=".log", delete=False)
    proc = subprocess.Popen([
        args.fluoro, "serve", "--data-dir", args.data_dir, "--http-addr", f"127.0.0.1:{port}",
        "--otlp-grpc-addr", f"127.0.0.1:{free_port()}", "--otlp-http-addr", f"127.0.0.1:{free_port()}",
        "--xray-addr", f"127.0.0.1:{free_port()}"], stdout=log, stderr=log)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        logs = boto3.client("logs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                            aws_access_key_id="x", aws_secret_access_key="x",
                            config=Config(retries={"max_attempts": 1}))
        groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
        con = duckdb.connect()
        con.execute(f"CREATE VIEW logs AS SELECT * FROM read_parquet('{parquet}')")
        first, last = con.execute("SELECT min(ts), max(ts) FROM logs").fetchone()
        start = int(first.replace(tzinfo=dt.timezone.utc).timestamp())
        end = int(last.replace(tzinfo=dt.timezone.utc).timestamp()) + 1
        events = con.execute("SELECT count(*) FROM logs").fetchone()[0]
        print(f"{events:,} events in {len(groups)} log groups; DuckDB {duckdb.__version__}; "
              f"Parquet {os.path.getsize(parquet) / 1e6:.0f} MB; median of {args.runs} warm runs\n")

        def fluoro(query):
            def run():
                qid = logs.start_query(logGroupNames=groups, startTime=start, endTime=end, queryString=query,
                                       limit=10_000)["queryId"]
                while True:
                    r = logs.get_query_results(queryId=qid)
                    if r["status"] not in ("Scheduled", "Running"):
                        if r["status"] != "Complete":
                            raise RuntimeError(f"{query}: {r['status']}")
                        return r
                    time.sleep(0.0005)
            return run

        rows = []
        for name, insights, sql, rg in QUERIES:
            f_ms, f_res = timed(fluoro(insights), args.runs)
            d_ms, d_res = timed(lambda: con.execute(sql).fetchall(), args.runs)
            rg_ms = None
            if rg and shutil.which(rg[0]):
                rg_ms, _ = timed(lambda: subprocess.run(rg + [args.input], capture_output=True, check=True), args.runs)
            stats = f_res["statistics"]
            rows.append((name, f_ms, d_ms, rg_ms, len(f_res["results"]), len(d_res), stats))
            first_row = {c["field"]: c["value"] for c in f_res["results"][0]} if f_res["results"] else {}
            print(f"{name}: fluoro rows {len(f_res['results'])} (first {json.dumps(first_row)}), "
                  f"DuckDB rows {len(d_res)} (first {d_res[0] if d_res else None}); "
                  f"scanned {stats['recordsScanned']:,.0f}, skipped by index {stats.get('estimatedRecordsSkipped', 0):,.0f}",
                  flush=True)
        print()
        print(f"| query | fluoro ms | DuckDB ms | fluoro ÷ DuckDB | ripgrep ms | ripgrep ÷ fluoro |")
        print(f"|---|---|---|---|---|---|")
        for name, f_ms, d_ms, rg_ms, *_ in rows:
            rg_cols = f"{rg_ms:.0f} | {rg_ms / f_ms:.0f}×" if rg_ms else "— | —"
            print(f"| {name} | {f_ms:.1f} | {d_ms:.1f} | {f_ms / d_ms:.2f} | {rg_cols} |")
    finally:
        proc.terminate()
        proc.wait(timeout=120)


if __name__ == "__main__":
    sys.exit(main())
