"""Mixed ingest load for crash tests: every protocol that acknowledges writes, each writer
recording what was acknowledged and what was in doubt when the server died, and the checks
that every acknowledged record is stored exactly once.

Writers (one thread each): PutLogEvents, OTLP/HTTP logs, OTLP/HTTP traces, PutTraceSegments,
X-Ray daemon UDP (unacknowledged: checked for duplicates only), OTLP/HTTP metrics (gauges)
and PutMetricData. Used by `test_durability.py` (a few kills in CI) and `bench/crash.py`
(many kills, prints the figures)."""

import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

from botocore.exceptions import BotoCoreError, ClientError

LOG_GROUP = "/crash/logs"
OTLP_GROUP = "/crash/otlp"
NAMESPACE = "Crash"
OTLP_NAMESPACE = "CrashOtlp"
KINDS = ("logs", "otlp_logs", "otlp_traces", "segments", "udp_segments", "otlp_metrics", "put_metric_data")


def now_ms():
    return int(time.time() * 1000)


class Ledger:
    """What one kind of record was sent as: acknowledged ids and ids in doubt (sent to a server
    that died before answering, or refused with a retryable error after the server was killed)."""

    def __init__(self):
        self.acked = []
        self.in_doubt = []
        self.lock = threading.Lock()

    def ack(self, ids):
        with self.lock:
            self.acked.extend(ids)

    def doubt(self, ids):
        with self.lock:
            self.in_doubt.extend(ids)


def xray_trace_id(rng):
    return f"1-{int(time.time()):08x}-{rng.getrandbits(96):024x}"


def post_json(url, body, headers=None, timeout=10):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read() or b"{}")


class MixedLoad:
    def __init__(self, seed=1, pace=0.01):
        self.ledgers = {kind: Ledger() for kind in KINDS}
        self.rng = random.Random(seed)
        self.pace = pace
        self.round = 0
        self.started_ms = now_ms()
        self.traces_read = {}

    def setup(self, fluoro):
        logs = fluoro.client()
        for group in (LOG_GROUP, OTLP_GROUP):
            try:
                logs.create_log_group(logGroupName=group)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise

    # --- writers -------------------------------------------------------------------------

    def run(self, fluoro):
        """Starts every writer against `fluoro`; they write until stopped or the server dies.
        Returns the stop event and threads (the caller kills the server, then calls `join`)."""
        self.round += 1
        stop = threading.Event()
        writers = [self.put_log_events, self.otlp_logs, self.otlp_traces, self.put_trace_segments,
                   self.udp_segments, self.otlp_metrics, self.put_metric_data]
        threads = []
        for i, writer in enumerate(writers):
            seed = self.rng.getrandbits(32)
            t = threading.Thread(target=self._guard, args=(writer, fluoro, stop, random.Random(seed), f"r{self.round}w{i}"))
            t.start()
            threads.append(t)
        return stop, threads

    @staticmethod
    def join(stop, threads):
        stop.set()
        for t in threads:
            t.join(timeout=60)

    def _guard(self, writer, fluoro, stop, rng, tag):
        n = 0
        while not stop.is_set():
            try:
                n = writer(fluoro, rng, tag, n)
            except StopWriting:
                return
            time.sleep(self.pace * rng.random())

    def _send(self, kind, ids, call):
        """Runs `call`; its ids are acknowledged on success, in doubt on any failure (after which
        the writer stops: the server is going or gone)."""
        try:
            call()
        except (BotoCoreError, ClientError, OSError, urllib.error.URLError):
            self.ledgers[kind].doubt(ids)
            raise StopWriting from None
        self.ledgers[kind].ack(ids)

    def put_log_events(self, fluoro, rng, tag, n):
        stream = f"{tag}-logs"
        logs = fluoro.client()
        if n == 0:
            self._send("logs", [], lambda: logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream))
        ids = [f"{tag}-l{n + i}" for i in range(rng.randint(1, 100))]
        events = [{"timestamp": now_ms(), "message": f"{i} " + "x" * rng.randint(0, 200)} for i in ids]
        self._send("logs", ids, lambda: logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events))
        return n + len(ids)

    def otlp_logs(self, fluoro, rng, tag, n):
        ids = [f"{tag}-o{n + i}" for i in range(rng.randint(1, 50))]
        nanos = str(time.time_ns())
        body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "crash"}}]},
                                  "scopeLogs": [{"logRecords": [{"timeUnixNano": nanos, "body": {"stringValue": i}} for i in ids]}]}]}
        url = f"http://127.0.0.1:{fluoro.ports['otlp_http']}/v1/logs"

        def call():
            status, answer = post_json(url, body, {"x-aws-log-group": OTLP_GROUP, "x-aws-log-stream": tag})
            assert status == 200 and not answer.get("partialSuccess", {}).get("rejectedLogRecords"), answer

        self._send("otlp_logs", ids, call)
        return n + len(ids)

    def otlp_traces(self, fluoro, rng, tag, n):
        count = rng.randint(1, 10)
        start = time.time_ns()
        spans, ids = [], []
        for _ in range(count):
            trace = xray_trace_id(rng)
            ids.append(trace)
            spans.append({"traceId": trace[2:10] + trace[11:], "spanId": f"{rng.getrandbits(64):016x}", "name": "crash-op",
                          "kind": 2, "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1_000_000)})
        body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "crash-otlp"}}]},
                                   "scopeSpans": [{"spans": spans}]}]}
        url = f"http://127.0.0.1:{fluoro.ports['otlp_http']}/v1/traces"

        def call():
            status, answer = post_json(url, body)
            assert status == 200 and not answer.get("partialSuccess", {}).get("rejectedSpans"), answer

        self._send("otlp_traces", ids, call)
        return n + count

    def _segments(self, rng, name, count):
        start = time.time()
        docs = []
        for _ in range(count):
            docs.append({"name": name, "id": f"{rng.getrandbits(64):016x}", "trace_id": xray_trace_id(rng),
                         "start_time": start, "end_time": start + 0.01})
        return docs

    def put_trace_segments(self, fluoro, rng, tag, n):
        docs = self._segments(rng, "crash-put", rng.randint(1, 10))
        xray = fluoro.client("xray")

        def call():
            answer = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in docs])
            assert not answer["UnprocessedTraceSegments"], answer

        self._send("segments", [d["trace_id"] for d in docs], call)
        return n + len(docs)

    def udp_segments(self, fluoro, rng, tag, n):
        (doc,) = self._segments(rng, "crash-udp", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b'{"format": "json", "version": 1}\n' + json.dumps(doc).encode(), ("127.0.0.1", fluoro.ports["xray"]))
        # Datagrams are never acknowledged: all are in doubt, checked for duplicates only.
        self.ledgers["udp_segments"].doubt([doc["trace_id"]])
        if fluoro.proc.poll() is not None:
            raise StopWriting
        return n + 1

    def otlp_metrics(self, fluoro, rng, tag, n):
        count = rng.randint(1, 20)
        base = time.time_ns()
        points = [{"asDouble": 1.0, "timeUnixNano": str(base + i), "attributes": [{"key": "writer", "value": {"stringValue": tag}}]}
                  for i in range(count)]
        body = {"resourceMetrics": [{"resource": {"attributes": [
            {"key": "aws.cloudwatch.namespace", "value": {"stringValue": OTLP_NAMESPACE}}]},
            "scopeMetrics": [{"metrics": [{"name": "points", "gauge": {"dataPoints": points}}]}]}]}
        url = f"http://127.0.0.1:{fluoro.ports['otlp_http']}/v1/metrics"
        ids = [f"{tag}-m{n + i}" for i in range(count)]

        def call():
            status, answer = post_json(url, body)
            assert status == 200 and not answer.get("partialSuccess", {}).get("rejectedDataPoints"), answer

        self._send("otlp_metrics", ids, call)
        return n + count

    def put_metric_data(self, fluoro, rng, tag, n):
        count = rng.randint(1, 20)
        cw = fluoro.client("cloudwatch")
        data = [{"MetricName": "puts", "Value": 1.0, "Unit": "Count"} for _ in range(count)]
        ids = [f"{tag}-p{n + i}" for i in range(count)]
        self._send("put_metric_data", ids, lambda: cw.put_metric_data(Namespace=NAMESPACE, MetricData=data))
        return n + count

    # --- checks --------------------------------------------------------------------------

    def verify(self, fluoro):
        """Checks every ledger against the server; returns the number of records checked."""
        checked = 0
        checked += self._verify_log_ids("logs", LOG_GROUP, fluoro)
        checked += self._verify_log_ids("otlp_logs", OTLP_GROUP, fluoro)
        traces = self._trace_ids(fluoro)
        for kind in ("otlp_traces", "segments"):
            checked += self._verify_traces(kind, traces, fluoro)
        assert all(c == 1 for c in traces.values()), "a trace was listed twice"
        sent = set()
        for kind in ("otlp_traces", "segments", "udp_segments"):
            sent |= set(self.ledgers[kind].acked) | set(self.ledgers[kind].in_doubt)
        assert set(traces) <= sent, "a trace nobody sent appeared"
        udp = self.ledgers["udp_segments"]
        stored_udp = [t for t in udp.in_doubt if traces.get(t)]
        assert all(traces[t] == 1 for t in stored_udp), "a UDP segment was stored twice"
        checked += len(stored_udp)
        checked += self._verify_count("otlp_metrics", fluoro, OTLP_NAMESPACE, "points", [{"Name": "writer"}])
        checked += self._verify_count("put_metric_data", fluoro, NAMESPACE, "puts", [])
        return checked

    def _verify_log_ids(self, kind, group, fluoro):
        ledger = self.ledgers[kind]
        stored, size = Counter(), 0
        logs = fluoro.client()
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            stored.update(record_id(e["message"]) for e in page["events"])
            size += sum(len(e["message"].encode()) for e in page["events"])
        described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
        assert described["storedBytes"] == size, f"{kind}: storedBytes counts a replayed event once"
        lost = [i for i in ledger.acked if stored[i] != 1]
        assert not lost, f"{kind}: {len(lost)} acknowledged records lost or duplicated, e.g. {lost[:5]}"
        assert all(c == 1 for c in stored.values()), f"{kind}: a record was stored twice"
        assert set(stored) <= set(ledger.acked) | set(ledger.in_doubt), f"{kind}: a record nobody sent appeared"
        return len(ledger.acked)

    def _trace_ids(self, fluoro):
        """Trace id → number of summaries, over the whole test."""
        xray = fluoro.client("xray")
        seen = Counter()
        start = self.started_ms / 1000 - 60
        for page in xray.get_paginator("get_trace_summaries").paginate(StartTime=start, EndTime=time.time() + 60):
            seen.update(s["Id"] for s in page["TraceSummaries"])
        return seen

    def _verify_traces(self, kind, summaries, fluoro):
        ledger = self.ledgers[kind]
        lost = [t for t in ledger.acked if summaries.get(t) != 1]
        assert not lost, f"{kind}: {len(lost)} acknowledged traces missing or listed twice, e.g. {lost[:5]}"
        # Segments of traces checked after an earlier restart are covered by their summaries;
        # the new ones are read whole.
        xray = fluoro.client("xray")
        new = ledger.acked[self.traces_read.get(kind, 0):]
        self.traces_read[kind] = len(ledger.acked)
        for i in range(0, len(new), 5):
            ids = new[i:i + 5]
            traces = xray.batch_get_traces(TraceIds=ids)["Traces"]
            counts = {t["Id"]: len(t["Segments"]) for t in traces}
            wrong = {t: counts.get(t) for t in ids if counts.get(t) != 1}
            assert not wrong, f"{kind}: traces without exactly one segment: {wrong}"
        return len(ledger.acked)

    def _verify_count(self, kind, fluoro, namespace, metric, dimensions):
        """Samples are not individually addressable: the stored count must lie between the
        acknowledged count and that plus the in-doubt count (a duplicate breaks the bound)."""
        ledger = self.ledgers[kind]
        cw = fluoro.client("cloudwatch")
        total = 0
        pages = cw.get_paginator("list_metrics").paginate(Namespace=namespace, MetricName=metric)
        for s in (s for page in pages for s in page["Metrics"]):
            points = cw.get_metric_statistics(
                Namespace=namespace, MetricName=metric, Dimensions=s["Dimensions"],
                StartTime=self.started_ms / 1000 - 120, EndTime=time.time() + 120, Period=60,
                Statistics=["SampleCount"])["Datapoints"]
            total += int(sum(p["SampleCount"] for p in points))
        acked, doubt = len(ledger.acked), len(ledger.in_doubt)
        assert acked <= total <= acked + doubt, f"{kind}: {total} samples stored, {acked} acknowledged, {doubt} in doubt"
        return acked


def record_id(message):
    """The id a writer put in a message: its first word, or an OTLP record's body."""
    if message.startswith("{"):
        return json.loads(message)["body"]
    return message.split(" ")[0]


class StopWriting(Exception):
    pass


def crash_rounds(fluoro, kills, seed, log=print, min_run=0.3, max_run=2.0):
    """Starts `fluoro` (a conftest.Fluoro), runs the mixed load, SIGKILLs it at a random moment, restarts
    it and verifies, `kills` times. Returns (kills survived, records checked, records acked)."""
    fluoro.start()
    load = MixedLoad(seed)
    load.setup(fluoro)
    rng = random.Random(seed)
    checked = 0
    for k in range(kills):
        stop, threads = load.run(fluoro)
        time.sleep(rng.uniform(min_run, max_run))
        fluoro.kill()
        MixedLoad.join(stop, threads)
        fluoro.start()
        checked = load.verify(fluoro)
        log(f"kill {k + 1}/{kills}: {checked} acknowledged records present exactly once")
    acked = sum(len(l.acked) for l in load.ledgers.values())
    assert fluoro.stop() == 0
    return kills, checked, acked, load
