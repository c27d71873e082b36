#!/usr/bin/env python3
"""Crash soak: SIGKILLs fluoro at random moments under mixed load (PutLogEvents, OTLP/HTTP
logs, traces and metrics, PutTraceSegments, X-Ray UDP, PutMetricData), restarts it on the same
data directory and checks after every restart that every acknowledged record is stored exactly
once. Prints the kills survived and the records checked. The harness is the end-to-end tests'
`tests/e2e/crash_load.py` (CI runs it for 8 kills in `test_durability.py`).

    python3 bench/crash.py --fluoro target/debug/fluoro --kills 200

Needs boto3 (the test venv has it). Exits non-zero on the first lost or duplicated record."""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fluoro", default="target/debug/fluoro")
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-run", type=float, default=2.0, help="longest load between kills, seconds")
    args = parser.parse_args()
    os.environ["FLUORO_BIN"] = os.path.abspath(args.fluoro)
    import conftest
    from crash_load import crash_rounds

    conftest.FLUORO_BIN = os.environ["FLUORO_BIN"]
    with tempfile.TemporaryDirectory(prefix="fluoro-crash-") as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        fluoro = conftest.Fluoro(data, ["--flush-interval-secs", "1", "--flush-bytes", "200000"])
        started = time.monotonic()
        try:
            kills, checked, acked, load = crash_rounds(fluoro, args.kills, args.seed, max_run=args.max_run,
                                                       log=lambda line: print(line, flush=True))
        finally:
            fluoro.kill()
        print(f"\nkills survived: {kills}, acknowledged records checked after the last restart: {checked}")
        for kind, ledger in load.ledgers.items():
            print(f"  {kind:16} acknowledged {len(ledger.acked):8}  in doubt {len(ledger.in_doubt):6}")
        print(f"lost: 0, duplicated: 0 ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
