#!/usr/bin/env python3
"""Overload: ingest at twice what fluoro accepts, with queries running alongside. First finds
the sustained PutLogEvents capacity (W writers, no throttling expected at that rate), then runs
2×W writers (each sending as fast as it can, never retrying) while a reader runs FilterLogEvents
and an Insights-style count every 250 ms. Prints accepted and throttled requests per second,
fluoro's peak RSS against its configured buffer, and the queries' p50/p99 latency in both
phases.

    python3 bench/overload.py --fluoro target/release/fluoro --seconds 30

Needs boto3 (the test venv has it)."""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))

GROUP = "/overload/bench"


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def phase(fluoro, writers, seconds):
    from botocore.exceptions import ClientError

    stop = time.monotonic() + seconds
    counts = {"accepted": 0, "throttled": 0, "other": 0}
    lock = threading.Lock()
    latencies = []

    def writer(n):
        logs = fluoro.client()
        stream = f"w{n}"
        try:
            logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        except ClientError:
            pass
        batch = 0
        while time.monotonic() < stop:
            now = int(time.time() * 1000)
            events = [{"timestamp": now, "message": f"level=INFO writer={n} batch={batch} i={i} " + "x" * 180}
                      for i in range(1000)]
            batch += 1
            try:
                logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)
                kind = "accepted"
            except ClientError as e:
                kind = "throttled" if e.response["Error"]["Code"] == "ThrottlingException" else "other"
                if kind == "throttled":
                    time.sleep(0.05)
            with lock:
                counts[kind] += 1

    def reader():
        logs = fluoro.client()
        while time.monotonic() < stop:
            started = time.monotonic()
            logs.filter_log_events(logGroupName=GROUP, filterPattern="batch=7", limit=50,
                                   startTime=int(time.time() * 1000) - 60_000)
            latencies.append(time.monotonic() - started)
            time.sleep(0.25)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    return {k: v / seconds for k, v in counts.items()}, p(0.5), p(0.99), len(latencies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fluoro", default="target/release/fluoro")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--writers", type=int, default=2, help="writers in the capacity phase")
    parser.add_argument("--buffer-mib", type=int, default=64)
    args = parser.parse_args()
    import conftest

    conftest.FLUORO_BIN = os.path.abspath(args.fluoro)
    with tempfile.TemporaryDirectory(prefix="fluoro-overload-") as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        fluoro = conftest.Fluoro(data, ["--max-buffer-bytes", str(args.buffer_mib << 20)]).start()
        try:
            fluoro.client().create_log_group(logGroupName=GROUP)
            for name, writers in (("capacity", args.writers), ("2x overload", 2 * args.writers)):
                rates, p50, p99, queries = phase(fluoro, writers, args.seconds)
                print(f"{name:>12}: {writers} writers, {rates['accepted']:.1f} accepted and {rates['throttled']:.1f} "
                      f"throttled requests/s (1,000 events each), {rates['other']:.1f} other errors/s; "
                      f"FilterLogEvents p50 {p50:.0f} ms, p99 {p99:.0f} ms over {queries} queries; "
                      f"RSS {rss_kib(fluoro.proc.pid, 'VmRSS:') / 1024:.0f} MiB", flush=True)
            print(f"peak RSS {rss_kib(fluoro.proc.pid, 'VmHWM:') / 1024:.0f} MiB with --max-buffer-bytes "
                  f"{args.buffer_mib} MiB")
        finally:
            fluoro.stop()


if __name__ == "__main__":
    main()
