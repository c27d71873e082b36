"""kill -9 at random moments loses nothing acknowledged and duplicates nothing."""

import random
import threading
import time
from collections import Counter

from botocore.exceptions import BotoCoreError, ClientError

from conftest import now_ms

GROUP = "/durability/app"
ROUNDS = 5


def writer(fluoro, stream, acked, in_doubt, stop, seed):
    """Streams batches to `stream` until stopped or the server dies. Message ids are
    `<stream>-<n>`, unique across the test."""
    rng = random.Random(seed)
    logs = fluoro.client()
    n = 0
    while not stop.is_set():
        ids = [f"{stream}-{n + i}" for i in range(rng.randint(1, 200))]
        n += len(ids)
        events = [{"timestamp": now_ms(), "message": f"{i} " + "x" * rng.randint(0, 300)} for i in ids]
        try:
            logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)
            acked.extend(ids)
        except (BotoCoreError, ClientError, OSError):
            in_doubt.extend(ids)
            return


def stored_ids(fluoro):
    """Ids of the stored events, and the bytes of their messages."""
    logs = fluoro.client()
    out, size = [], 0
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=GROUP):
        out += [e["message"].split(" ")[0] for e in page["events"]]
        size += sum(len(e["message"].encode()) for e in page["events"])
    return Counter(out), size


def test_sigkill_loses_nothing_acknowledged(make_fluoro):
    # Small flush thresholds so kills also land during flushes and WAL truncation.
    f = make_fluoro(extra_args=["--flush-interval-secs", "1", "--flush-bytes", "200000"]).start()
    f.client().create_log_group(logGroupName=GROUP)
    acked, in_doubt = [], []
    rng = random.Random(20261121)
    for round_ in range(ROUNDS):
        streams = [f"r{round_}-s{i}" for i in range(2)]
        logs = f.client()
        for s in streams:
            logs.create_log_stream(logGroupName=GROUP, logStreamName=s)
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(f, s, acked, in_doubt, stop, round_ * 10 + i))
                   for i, s in enumerate(streams)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 2.0))
        f.kill()
        stop.set()
        for t in threads:
            t.join(timeout=60)
        f.start()
        stored, size = stored_ids(f)
        lost = [i for i in acked if stored[i] != 1]
        assert not lost, f"round {round_}: {len(lost)} acknowledged events lost or duplicated, e.g. {lost[:5]}"
        assert all(count == 1 for count in stored.values()), "an event was stored twice"
        assert set(stored) <= set(acked) | set(in_doubt), "an event nobody sent appeared"
        group = f.client().describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]
        assert group["storedBytes"] == size, "replay counted stored bytes once"
    assert len(acked) > 1000
    assert f.stop() == 0
