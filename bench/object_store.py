#!/usr/bin/env python3
"""Per-file read overhead on object storage: the same N small Parquet files (one per flush,
compaction held off) read by FilterLogEvents and by an Insights count, with the files on the
local disk and in an S3-compatible bucket (moto's server on loopback), cold (the first query
after a restart: footers, indexes and data fetched) and warm (the same query again). Prints
each case's median time and its cost per file.

    python3 bench/object_store.py --fluoro target/release/fluoro --files 200

Needs boto3 and moto[server] (the test venv has them). moto is a Python server, so the S3
figures include its own request cost: a bound on fluoro's, not a figure for AWS S3."""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))

GROUP = "/bench/files"


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def buffered(fluoro):
    from conftest import metric_value
    return metric_value(fluoro, "fluoro_buffer_bytes")


def fill(fluoro, files):
    logs = fluoro.client()
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    for i in range(files):
        now = int(time.time() * 1000)
        logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=[
            {"timestamp": now, "message": f"file={i} line={j} level={'ERROR' if j == 0 else 'INFO'}"}
            for j in range(50)])
        deadline = time.monotonic() + 30
        while buffered(fluoro) > 0 and time.monotonic() < deadline:
            time.sleep(0.05)


def timed(call):
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def queries(fluoro, files):
    logs = fluoro.client()

    def filter_events():
        events, token = [], None
        while True:
            kwargs = {"nextToken": token} if token else {}
            page = logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR", **kwargs)
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                break
        assert len(events) == files, len(events)

    def insights():
        now = int(time.time())
        query_id = logs.start_query(logGroupName=GROUP, startTime=now - 3600, endTime=now + 60,
                                    queryString="filter @message like /level=ERROR/ | stats count(*) as n")["queryId"]
        while True:
            result = logs.get_query_results(queryId=query_id)
            if result["status"] == "Complete":
                assert result["results"][0][0]["value"] == str(files), result
                return
            time.sleep(0.02)

    return {"FilterLogEvents": filter_events, "Insights count": insights}


def measure(make, files, runs):
    """(case, cold ms list, warm ms list) for each query."""
    fluoro = make()
    fill(fluoro, files)
    cold = {name: [] for name in queries(fluoro, files)}
    warm = {name: [] for name in cold}
    for _ in range(runs):
        fluoro.stop()
        fluoro.start()
        for name, call in queries(fluoro, files).items():
            cold[name].append(timed(call))
            warm[name].append(min(timed(call) for _ in range(3)))
    fluoro.kill()
    return cold, warm


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fluoro", default="target/release/fluoro")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["FLUORO_BIN"] = os.path.abspath(args.fluoro)
    import boto3
    import conftest
    from conftest import Fluoro, free_port

    conftest.FLUORO_BIN = os.environ["FLUORO_BIN"]
    tmp = tempfile.mkdtemp(prefix="fluoro-objects-bench-")
    port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket="bench")
        config = os.path.join(tmp, "s3.toml")
        with open(config, "w") as f:
            f.write(f'[s3]\nbucket = "bench"\nendpoint = "{endpoint}"\n'
                    'access_key_id = "bench"\nsecret_access_key = "bench"\n')
        common = ["--flush-bytes", "1", "--maintenance-interval-secs", "86400"]
        cases = {
            "local disk": lambda: Fluoro(os.path.join(tmp, "local"), common).start(),
            "S3 (moto)": lambda: Fluoro(os.path.join(tmp, "s3"), common + ["--config", config]).start(),
        }
        for directory in ("local", "s3"):
            os.makedirs(os.path.join(tmp, directory))
        print(f"{args.files} files of 50 events, median of {args.runs} restarts")
        print(f"{'storage':<12} {'query':<16} {'cold ms':>9} {'cold ms/file':>13} {'warm ms':>9} {'warm ms/file':>13}")
        for case, make in cases.items():
            cold, warm = measure(make, args.files, args.runs)
            for name in cold:
                c, w = statistics.median(cold[name]), statistics.median(warm[name])
                print(f"{case:<12} {name:<16} {c:>9.1f} {c / args.files:>13.3f} {w:>9.1f} {w / args.files:>13.3f}")
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
