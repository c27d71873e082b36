"""A multi-node deployment on loopback: two `fluoro collector` processes and a `fluoro query`
node over one PostgreSQL metastore and one S3-compatible bucket (moto), and a Ballista scheduler
with two executors running the query node's queries, all started here. Load goes through every
ingest path; every acknowledged record is queryable from the query node, also from a collector
killed mid-load (its WAL replays when it comes back); an Insights and a SQL query, run on the
executors, give the same rows as a single-node fluoro fed the same events; exactly one node
delivers each alarm notification, and delivery survives the loss of that node."""

import datetime as dt
import json
import socket
import subprocess
import threading
import time
import urllib.request

import botocore.exceptions
import pytest

from conftest import FLUORO_BIN, S3_BUCKET, free_port, now_ms, postgres_bin, wait_until
from test_alarms import Receiver, alarm
from test_otlp_traces import call_across_two_services, grpc_exporter

GROUP = "/cluster/app"
TOPIC = "arn:aws:sns:us-east-1:000000000000:oncall"


def cluster_config(tmp_path, endpoint, metastore, extra=""):
    path = tmp_path / "cluster.toml"
    path.write_text(
        f'metastore = "{metastore}"\nflush_interval_secs = 1\ncatalog_refresh_ms = 200\n{extra}\n'
        f'[s3]\nbucket = "{S3_BUCKET}"\nprefix = "cluster"\nendpoint = "{endpoint}"\n'
        'access_key_id = "minio"\nsecret_access_key = "minio-secret"\n')
    return ["--config", str(path)]


class Ballista:
    """`fluoro ballista-scheduler` and `executors` × `fluoro ballista-executor` on free ports,
    reading the bucket of the cluster's config file."""

    def __init__(self, tmp_path, config, executors=2):
        self.procs, self.logs = [], []
        self.port = free_port()
        self._spawn(tmp_path, "scheduler", ["ballista-scheduler", *config, "--bind", f"127.0.0.1:{self.port}"])
        self._wait_port(self.port)
        for n in range(executors):
            flight, grpc = free_port(), free_port()
            work = tmp_path / f"executor{n}"
            work.mkdir()
            self._spawn(tmp_path, f"executor{n}", [
                "ballista-executor", *config, "--scheduler", f"127.0.0.1:{self.port}", "--flight-port", str(flight),
                "--grpc-port", str(grpc), "--concurrent-tasks", "1", "--work-dir", str(work)])
            self._wait_port(flight)
        self.url = f"df://127.0.0.1:{self.port}"

    def _spawn(self, tmp_path, name, args):
        path = tmp_path / f"ballista-{name}.log"
        self.logs.append(path)
        self.procs.append(subprocess.Popen([FLUORO_BIN, *args], stdout=open(path, "wb"), stderr=subprocess.STDOUT))

    def _wait_port(self, port):
        def up():
            assert all(p.poll() is None for p in self.procs), self.read_logs()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return True
            except OSError:
                return False
        assert wait_until(up, timeout=60), self.read_logs()

    def read_logs(self):
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.logs if p.exists())

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def ballista_factory(tmp_path):
    started = []

    def start(config, executors=2):
        cluster = Ballista(tmp_path, config, executors)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


def post_json(port, path, body, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def insights(logs, query, start, end):
    qid = logs.start_query(logGroupName=GROUP, startTime=start // 1000, endTime=end // 1000 + 1, queryString=query)["queryId"]
    result = wait_until(lambda: (r := logs.get_query_results(queryId=qid))["status"] in ("Complete", "Failed") and r,
                        timeout=60)
    assert result["status"] == "Complete", result
    return [{f["field"]: f["value"] for f in row} for row in result["results"]]


class Loader:
    """PutLogEvents batches to one node from a thread; remembers every acknowledged event."""

    def __init__(self, node, name, stream, base):
        self.logs = node.client("logs")
        self.name, self.stream, self.base = name, stream, base
        self.acked = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        batch = 0
        while not self.stopped.is_set() and batch < 400:
            events = [{"timestamp": self.base + batch * 100 + i, "message": f"node={self.name} batch={batch} i={i}"}
                      for i in range(100)]
            try:
                self.logs.put_log_events(logGroupName=GROUP, logStreamName=self.stream, logEvents=events)
            except Exception:  # the node was killed: what was not acknowledged may be lost
                return
            self.acked.extend(e["message"] for e in events)
            batch += 1


def test_two_collectors_and_a_query_node(make_fluoro, s3_server, postgres, ballista_factory, tmp_path):
    endpoint, _ = s3_server
    config = cluster_config(tmp_path, endpoint, postgres)
    c1 = make_fluoro(config + ["--node-id", "c1"], command="collector").start()
    c2 = make_fluoro(config + ["--node-id", "c2"], command="collector").start()
    # The query node sends every query over data files to the Ballista cluster.
    ballista = ballista_factory(config)
    q = make_fluoro(config + ["--node-id", "q", "--ballista", ballista.url, "--ballista-min-bytes", "1"],
                    command="query").start()
    logs_q, logs1, logs2 = q.client("logs"), c1.client("logs"), c2.client("logs")

    # The control plane works through any node; names are unique across nodes.
    logs_q.create_log_group(logGroupName=GROUP)
    logs1.create_log_stream(logGroupName=GROUP, logStreamName="one")
    with pytest.raises(botocore.exceptions.ClientError) as error:
        logs2.create_log_stream(logGroupName=GROUP, logStreamName="one")
    assert error.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    logs2.create_log_stream(logGroupName=GROUP, logStreamName="two")
    # A query node ingests nothing, and says so.
    with pytest.raises(botocore.exceptions.ClientError) as error:
        logs_q.put_log_events(logGroupName=GROUP, logStreamName="one",
                              logEvents=[{"timestamp": now_ms(), "message": "no"}])
    assert error.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert "queries only" in error.value.response["Error"]["Message"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", q.ports["otlp_http"]), timeout=1).close()

    # A metric filter made through the query node counts on the collectors.
    logs_q.put_metric_filter(logGroupName=GROUP, filterName="last-of-batch", filterPattern='"i=99"',
                             metricTransformations=[{"metricName": "Batches", "metricNamespace": "Cluster",
                                                     "metricValue": "1"}])
    assert wait_until(lambda: all(n.client("logs").describe_metric_filters(logGroupName=GROUP)["metricFilters"]
                                  for n in (c1, c2)), timeout=10)

    # Load both collectors at once; kill the second mid-load and bring it back.
    base = now_ms() - 600_000
    loaders = [Loader(c1, "c1", "one", base), Loader(c2, "c2", "two", base)]
    for loader in loaders:
        loader.thread.start()
    assert wait_until(lambda: len(loaders[1].acked) >= 3000, timeout=120)
    c2.kill()
    loaders[1].thread.join(timeout=60)
    loaders[0].stopped.set()
    loaders[0].thread.join(timeout=60)
    c2.start()

    # The other ingest paths, on either collector.
    now = time.time()
    trace_ids = ["1-%08x-%024x" % (int(now), n) for n in range(1, 5)]
    xray1, xray2 = c1.client("xray"), c2.client("xray")
    segment = lambda n: json.dumps({"name": f"svc-{n}", "id": "%016x" % n, "trace_id": trace_ids[n - 1],
                                    "start_time": now, "end_time": now + 0.05})
    assert xray1.put_trace_segments(TraceSegmentDocuments=[segment(1)])["UnprocessedTraceSegments"] == []
    assert xray2.put_trace_segments(TraceSegmentDocuments=[segment(2)])["UnprocessedTraceSegments"] == []
    grpc_trace = call_across_two_services(lambda: grpc_exporter(c1), "cluster")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b'{"format":"json","version":1}\n' + segment(3).encode(), ("127.0.0.1", c1.ports["xray"]))
    otlp_trace = trace_ids[3][2:].replace("-", "")
    span = {"traceId": otlp_trace, "spanId": "00000000000000a4", "name": "otlp-op", "kind": 2,
            "startTimeUnixNano": str(int(now * 1e9)), "endTimeUnixNano": str(int((now + 0.01) * 1e9))}
    assert post_json(c2.ports["otlp_http"], "/v1/traces", {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otlp-svc"}}]},
        "scopeSpans": [{"spans": [span]}]}]}) == 200
    assert post_json(c1.ports["otlp_http"], "/v1/logs", {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": str((base + 1) * 1_000_000), "body": {"stringValue": "node=otlp batch=0 i=0"}}]}]}]},
                     {"x-aws-log-group": GROUP, "x-aws-log-stream": "otlp"}) == 200
    assert post_json(c2.ports["otlp_http"], "/v1/metrics", {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "otlp.requests", "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": [
            {"asDouble": 5, "timeUnixNano": str(int(now * 1e9))}]}}]}]}]}) == 200
    for node, value in ((c1, 3.0), (c2, 4.0)):
        node.client("cloudwatch").put_metric_data(Namespace="Cluster", MetricData=[
            {"MetricName": "Hits", "Value": value, "Timestamp": dt.datetime.fromtimestamp(now, dt.timezone.utc)}])

    # Every acknowledged event is queryable from the query node.
    acked = set(loaders[0].acked) | set(loaders[1].acked)
    assert len(loaders[1].acked) >= 3000 and len(acked) == len(loaders[0].acked) + len(loaders[1].acked)

    def stored_on_query_node():
        status, answer = q.sql(f"SELECT message FROM logs WHERE log_group = '{GROUP}' AND message LIKE 'node=c%'",
                               limit=100_000)
        assert status == 200, answer
        assert len(answer["rows"]) < 100_000, "the answer was cut at the limit"
        return [row["message"] for row in answer["rows"]]

    assert wait_until(lambda: set(stored_on_query_node()) >= acked, timeout=60, interval=0.5), \
        (len(stored_on_query_node()), len(acked))
    stored = stored_on_query_node()
    assert len(stored) == len(set(stored)), "nothing stored twice"
    # Beyond what was acknowledged, only the batch in flight when c2 was killed may be there
    # (written to its WAL, the answer lost with the process).
    in_flight = len(loaders[1].acked) // 100
    assert {m for m in set(stored) - acked if not m.startswith(f"node=c2 batch={in_flight} ")} == set()
    streams = {s["logStreamName"]: s for s in logs_q.describe_log_streams(logGroupName=GROUP)["logStreams"]}
    assert set(streams) >= {"one", "two"}
    assert wait_until(lambda: logs_q.filter_log_events(logGroupName=GROUP, filterPattern='"node=otlp"')["events"],
                      timeout=30)
    xray_q = q.client("xray")
    assert wait_until(lambda: len(xray_q.batch_get_traces(TraceIds=trace_ids)["Traces"]) == 4, timeout=30)
    assert wait_until(lambda: len(xray_q.batch_get_traces(TraceIds=[grpc_trace])["Traces"]) == 1, timeout=30)
    graph = xray_q.get_service_graph(StartTime=now - 600, EndTime=now + 60)["Services"]
    assert {"svc-a-cluster", "svc-b-cluster", "svc-1", "otlp-svc"} <= {s["Name"] for s in graph}
    cw_q = q.client("cloudwatch")
    start = dt.datetime.fromtimestamp(now - 120, dt.timezone.utc)
    end = dt.datetime.fromtimestamp(now + 120, dt.timezone.utc)
    total = lambda: sum(p["Sum"] for p in cw_q.get_metric_statistics(
        Namespace="Cluster", MetricName="Hits", StartTime=start, EndTime=end, Period=300,
        Statistics=["Sum"])["Datapoints"])
    assert wait_until(lambda: total() == 7.0, timeout=30)
    assert wait_until(lambda: cw_q.list_metrics(MetricName="otlp.requests")["Metrics"], timeout=30)
    # The metric filter counted every stored batch, on both collectors.
    batches = {m.split()[1] + m.split()[0] for m in stored}
    window = dict(StartTime=dt.datetime.fromtimestamp(base / 1000 - 600, dt.timezone.utc),
                  EndTime=dt.datetime.fromtimestamp(base / 1000 + 600, dt.timezone.utc), Period=3600,
                  Statistics=["Sum"])
    counted = lambda: sum(p["Sum"] for p in cw_q.get_metric_statistics(
        Namespace="Cluster", MetricName="Batches", **window)["Datapoints"])
    assert wait_until(lambda: counted() == len(batches), timeout=30), (counted(), len(batches))

    # The same Insights and SQL answers as one node holding the same events.
    single = make_fluoro().start()
    logs_s = single.client("logs")
    logs_s.create_log_group(logGroupName=GROUP)
    logs_s.create_log_stream(logGroupName=GROUP, logStreamName="all")
    ordered = sorted(set(stored), key=lambda m: (int(m.split()[1][6:]), int(m.split()[2][2:]), m))
    for at in range(0, len(ordered), 5000):
        chunk = ordered[at:at + 5000]
        logs_s.put_log_events(logGroupName=GROUP, logStreamName="all", logEvents=[
            {"timestamp": base + int(m.split()[1][6:]) * 100 + int(m.split()[2][2:]), "message": m} for m in chunk])
    query = ('filter @message like /node=c/ | parse @message "node=* batch=* i=*" as node, batch, i '
             '| stats count(*) as n, sum(i) as total, max(batch) as last by node | sort node')
    expected = insights(logs_s, query, base, base + 60_000)
    assert len(expected) == 2
    assert insights(logs_q, query, base, base + 60_000) == expected
    sql = (f"SELECT substr(message, 1, 7) AS node, count(*) AS n, min(timestamp) AS first FROM logs "
           f"WHERE log_group = '{GROUP}' AND message LIKE 'node=c%' GROUP BY 1 ORDER BY 1")
    assert q.sql(sql)[1]["rows"] == single.sql(sql)[1]["rows"]
    # Those ran on the executors: the query node says so, and so do the executors' shuffle files.
    assert q.read_log().count("query sent to the Ballista cluster") >= 2, q.read_log()
    # One task at a time each: the stages' tasks went to both executors.
    for log in ballista.logs[1:]:
        assert "Execute task" in log.read_text(errors="replace"), ballista.read_logs()
    # Without the Ballista cluster, the query node answers by itself.
    ballista.stop()
    assert q.sql(sql)[1]["rows"] == single.sql(sql)[1]["rows"]
    assert "running it here" in q.read_log()


def lease_holder(url, name):
    out = subprocess.run([f"{postgres_bin()}/psql", url, "-At", "-c",
                          f"SELECT holder FROM fluoro_leases WHERE name = '{name}' AND expires > now()"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_one_node_notifies_and_another_takes_over(make_fluoro, s3_server, postgres, tmp_path):
    endpoint, _ = s3_server
    receiver = Receiver(free_port())
    extra = f'[alarms]\nretry_initial_ms = 200\nretry_max_ms = 1000\n\n[[notify]]\nname = "oncall"\nurl = "{receiver.url}"\n'
    config = cluster_config(tmp_path, endpoint, postgres, extra="")
    # [alarms] and [[notify]] are tables: they go after the top-level keys, before [s3].
    path = tmp_path / "cluster.toml"
    text = path.read_text()
    path.write_text(text.replace("[s3]", extra + "\n[s3]"))
    nodes = {name: make_fluoro(config + ["--node-id", name], command="collector").start() for name in ("c1", "c2")}
    cw1, cw2 = nodes["c1"].client("cloudwatch"), nodes["c2"].client("cloudwatch")
    minute = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    cw1.put_metric_data(Namespace="Cluster", MetricData=[
        {"MetricName": "Errors", "Value": 5, "Timestamp": minute - dt.timedelta(seconds=30)}])
    # Once c1 flushed, c2 sees the datapoint through the bucket and the metastore.
    assert wait_until(lambda: cw2.get_metric_statistics(
        Namespace="Cluster", MetricName="Errors", StartTime=minute - dt.timedelta(minutes=5),
        EndTime=minute + dt.timedelta(minutes=1), Period=60, Statistics=["Sum"])["Datapoints"], timeout=30)
    cw2.put_metric_alarm(AlarmName="errors", Namespace="Cluster", MetricName="Errors", Statistic="Sum", Period=60,
                         EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                         AlarmActions=[TOPIC])
    assert alarm(cw2, "errors")["StateValue"] == "ALARM"
    seen = lambda: [a["StateValue"] for a in cw1.describe_alarms(AlarmNames=["errors"])["MetricAlarms"]]
    assert wait_until(lambda: seen() == ["ALARM"], timeout=10), "c1 sees c2's alarm"
    # The receiver is down: the holder's attempts fail. Then the holder is lost.
    holder = wait_until(lambda: lease_holder(postgres, "alarms/000000000000"), timeout=10)
    assert holder in nodes
    time.sleep(1)
    nodes[holder].kill()
    survivor = "c2" if holder == "c1" else "c1"
    receiver.start()
    try:
        assert wait_until(lambda: receiver.received, timeout=30), nodes[survivor].read_log()
        assert wait_until(lambda: lease_holder(postgres, "alarms/000000000000") == survivor, timeout=10)
        time.sleep(3)
        states = [(m["AlarmName"], m["NewStateValue"]) for m in receiver.messages()]
        assert states == [("errors", "ALARM")], "delivered once, by the node that took over"
        cw = nodes[survivor].client("cloudwatch")
        items = cw.describe_alarm_history(AlarmName="errors", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
        assert [i["HistorySummary"] for i in items] == ["Alarm updated from INSUFFICIENT_DATA to ALARM"]
    finally:
        receiver.stop()
