"""Damaged files: a truncated Parquet file is set aside at start-up, a corrupted one when a
query reads it, a corrupted term index when a search opens it. Each is moved under
quarantine/, counted in /metrics and logged, and everything else keeps serving."""

import glob
import os
import re
import time
import urllib.request

import pytest

from conftest import now_ms, wait_until

GROUP = "/damage/app"


def quarantined(f, kind):
    text = urllib.request.urlopen(f.endpoint + "/metrics").read().decode()
    m = re.search(rf'fluoro_files_quarantined_total{{kind="{kind}"}} (\d+)', text)
    return int(m.group(1)) if m else 0


def log_files(f):
    return sorted(glob.glob(os.path.join(f.data_dir, "objects", "logs", "**", "*.parquet"), recursive=True))


def flushed_batches(f, batches, words=("alpha", "bravo", "charlie")):
    """Writes `batches` batches of 500 events, each flushed to its own Parquet file."""
    logs = f.client()
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    for batch in range(batches):
        before = len(log_files(f))
        events = [{"timestamp": now_ms(), "message": f"{words[batch % len(words)]} batch={batch} n={i} " + "p" * 200}
                  for i in range(500)]
        logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=events)
        assert wait_until(lambda: len(log_files(f)) > before, timeout=20), "no flush"


def corrupt(path):
    """Overwrites the middle third of a file (its data pages), keeping its size, so only
    reading it finds the damage."""
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        file.seek(size // 4)
        file.write(b"\xff" * (size // 3))


def count_events(f, pattern=None):
    logs = f.client()
    kwargs = {"filterPattern": pattern} if pattern else {}
    total, token = 0, None
    while True:
        page = logs.filter_log_events(logGroupName=GROUP, **kwargs, **({"nextToken": token} if token else {}))
        total += len(page["events"])
        token = page.get("nextToken")
        if not token:
            return total


@pytest.fixture
def flushing(make_fluoro):
    return make_fluoro(extra_args=["--flush-interval-secs", "1", "--maintenance-interval-secs", "3600"]).start()


def test_truncated_file_is_quarantined_at_start(flushing):
    f = flushing
    flushed_batches(f, 2)
    assert count_events(f) == 1000
    assert f.stop() == 0
    victim = log_files(f)[0]
    with open(victim, "r+b") as file:
        file.truncate(os.path.getsize(victim) // 2)
    f.start()
    assert quarantined(f, "logs") == 1
    assert "damaged data file quarantined" in f.read_log()
    assert not os.path.exists(victim)
    assert glob.glob(os.path.join(f.data_dir, "objects", "quarantine", "**", os.path.basename(victim)), recursive=True)
    # The other file's events are all there, and new writes and reads go on.
    assert count_events(f) == 500
    f.client().put_log_events(logGroupName=GROUP, logStreamName="s",
                              logEvents=[{"timestamp": now_ms(), "message": "after"}])
    assert wait_until(lambda: count_events(f) == 501)


def test_corrupted_file_is_quarantined_when_read(flushing):
    f = flushing
    flushed_batches(f, 2)
    victim = log_files(f)[1]
    corrupt(victim)
    # The first read finds the damage, sets the file aside and answers from the rest.
    assert count_events(f) == 500
    assert quarantined(f, "logs") == 1
    assert not os.path.exists(victim)
    logs = f.client()
    assert logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    # Insights still runs over what is left.
    query = logs.start_query(logGroupName=GROUP, startTime=int(time.time()) - 600, endTime=int(time.time()) + 60,
                             queryString="stats count(*) as n")["queryId"]

    def done():
        answer = logs.get_query_results(queryId=query)
        return answer if answer["status"] == "Complete" else None

    answer = wait_until(done, timeout=30)
    assert answer and answer["results"][0][0]["value"] == "500"


def test_corrupted_index_is_quarantined_and_scanned_instead(flushing):
    f = flushing
    flushed_batches(f, 2)
    indexes = sorted(glob.glob(os.path.join(f.data_dir, "objects", "logs", "**", "*.idx"), recursive=True))
    assert indexes, "no term index was written"
    victim = indexes[0]
    # Damage found on a later start (a running fluoro keeps the indexes it built in memory).
    assert f.stop() == 0
    size = os.path.getsize(victim)
    with open(victim, "r+b") as file:
        file.seek(size // 2)
        file.write(b"\x00" * min(64, size // 4))
    f.start()
    # A search that would use the index still finds every match, by scanning.
    assert count_events(f, "alpha") == 500
    assert count_events(f, "bravo") == 500
    assert quarantined(f, "index") == 1
    assert not os.path.exists(victim)
    assert quarantined(f, "logs") == 0


def test_corrupted_file_found_by_sql_is_quarantined(flushing):
    f = flushing
    flushed_batches(f, 2)
    victim = log_files(f)[0]
    corrupt(victim)

    status, answer = f.sql("SELECT count(*) AS n FROM logs WHERE message LIKE '%batch%'")
    assert status == 400 and "quarantined; run the query again" in answer["error"], answer
    assert quarantined(f, "logs") == 1
    status, answer = f.sql("SELECT count(*) AS n FROM logs WHERE message LIKE '%batch%'")
    assert status == 200 and answer["rows"] == [{"n": 500}], answer


def test_corrupted_metric_and_trace_files_are_quarantined_when_read(flushing):
    import datetime
    import json

    f = flushing
    cloudwatch, xray = f.client("cloudwatch"), f.client("xray")
    objects = os.path.join(f.data_dir, "objects")
    now = datetime.datetime.now(datetime.timezone.utc)
    for batch in range(2):
        before = len(glob.glob(os.path.join(objects, "metrics", "*.parquet")))
        cloudwatch.put_metric_data(Namespace="Damage", MetricData=[
            {"MetricName": "m", "Value": float(batch), "Timestamp": now} for _ in range(20)])
        start = time.time()
        doc = {"name": f"svc{batch}", "id": f"{batch + 1:016x}", "trace_id": f"1-{int(start):08x}-{batch:024x}",
               "start_time": start, "end_time": start + 0.1}
        xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])
        assert wait_until(lambda: len(glob.glob(os.path.join(objects, "metrics", "*.parquet"))) > before, timeout=20)
    for kind in ("metrics", "traces"):
        victim = sorted(glob.glob(os.path.join(objects, kind, "*.parquet")))[0]
        corrupt(victim)

    stats = cloudwatch.get_metric_statistics(Namespace="Damage", MetricName="m", StartTime=now - datetime.timedelta(minutes=5),
                                             EndTime=now + datetime.timedelta(minutes=5), Period=600,
                                             Statistics=["SampleCount"])
    assert [p["SampleCount"] for p in stats["Datapoints"]] == [20.0]
    assert quarantined(f, "metrics") == 1
    summaries = xray.get_trace_summaries(StartTime=time.time() - 300, EndTime=time.time() + 60)["TraceSummaries"]
    assert len(summaries) == 1
    assert quarantined(f, "traces") == 1
