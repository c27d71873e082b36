"""Overload and slow clients: ingest beyond the buffer gets each protocol's retryable refusal
with a retry delay while reads keep working, fluoro recovers by itself once it flushes; stuck
and idle connections are closed; a query beyond the memory pool fails with a clear error."""

import json
import socket
import time
import urllib.error
import urllib.request

import grpc
import pytest
from botocore.exceptions import ClientError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.common.v1 import common_pb2

from conftest import now_ms, wait_until

GROUP = "/overload/app"
MIB = 1 << 20


@pytest.fixture
def small(make_fluoro):
    # A 2 MiB buffer that flushes every 4 s: full within a few requests, empty again soon.
    f = make_fluoro(extra_args=["--max-buffer-bytes", str(2 * MIB), "--flush-interval-secs", "4",
                                "--flush-bytes", str(1 << 30)]).start()
    logs = f.client()
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    return f


def fill(f):
    """Fills the buffer to within a few bytes: PutLogEvents of shrinking batches, each size until
    one is throttled (~900 KB down to one 1-byte event). Returns the first refusal. A flush in
    the middle empties the buffer (100 batches of one size all go in): then it starts again."""
    logs = f.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        first = None
        for count, size in ((100, 9000), (10, 9000), (10, 900), (10, 90), (10, 9), (1, 1)):
            for _ in range(100):
                events = [{"timestamp": now_ms(), "message": "x" * size} for _ in range(count)]
                try:
                    logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=events)
                except ClientError as e:
                    first = first or e
                    break
            else:
                break
        else:
            return first
    raise AssertionError("the 2 MiB buffer never filled up")


def refused_while_full(f, attempt):
    """Fills the buffer, then runs `attempt`, which returns its refusal or None if it was
    accepted; a flush between the two can let it through, so this tries a few times."""
    for _ in range(5):
        fill(f)
        refusal = attempt()
        if refusal is not None:
            return refusal
    raise AssertionError("never refused while the buffer was full")


def test_ingest_beyond_capacity_is_refused_retryably_and_recovers(small):
    f = small
    error = fill(f)
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"

    # Reads keep working while writes are refused.
    logs = f.client()
    assert logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    assert logs.filter_log_events(logGroupName=GROUP, limit=5)["events"]

    def otlp_http():
        body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{f.ports['otlp_http']}/v1/logs", data=body,
                                         headers={"content-type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10).read()
            return None
        except urllib.error.HTTPError as e:
            return e

    refusal = refused_while_full(f, otlp_http)
    assert refusal.code == 429 and refusal.headers["Retry-After"] == "1"

    def otlp_grpc():
        with grpc.insecure_channel(f"127.0.0.1:{f.ports['otlp_grpc']}") as channel:
            stub = logs_service_pb2_grpc.LogsServiceStub(channel)
            record = logs_pb2.LogRecord(body=common_pb2.AnyValue(string_value="x"))
            request = logs_service_pb2.ExportLogsServiceRequest(
                resource_logs=[logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=[record])])])
            try:
                stub.Export(request, timeout=10)
                return None
            except grpc.RpcError as e:
                return e

    refusal = refused_while_full(f, otlp_grpc)
    assert refusal.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = dict(refusal.trailing_metadata())
    # google.rpc.Status with a google.rpc.RetryInfo detail: what OTLP exporters need to retry.
    assert b"google.rpc.RetryInfo" in details["grpc-status-details-bin"]

    def put_metric_data():
        try:
            f.client("cloudwatch").put_metric_data(Namespace="Overload", MetricData=[{"MetricName": "m", "Value": 1}])
            return None
        except ClientError as e:
            return e

    refusal = refused_while_full(f, put_metric_data)
    assert refusal.response["Error"]["Code"] == "Throttling"
    assert refusal.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"

    def put_trace_segments():
        start = time.time()
        doc = {"name": "svc", "id": "70de5b6f19ff9a0a", "trace_id": f"1-{int(start):08x}-{'a' * 24}",
               "start_time": start, "end_time": start + 0.1}
        try:
            answer = f.client("xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])
            return None if not answer["UnprocessedTraceSegments"] else answer
        except ClientError as e:
            return e

    refusal = refused_while_full(f, put_trace_segments)
    assert refusal.response["Error"]["Code"] == "ThrottledException"
    assert refusal.response["ResponseMetadata"]["HTTPStatusCode"] == 429

    # Once the buffer flushes, writes are accepted again without any intervention.
    def accepted():
        try:
            logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=[{"timestamp": now_ms(), "message": "back"}])
            return True
        except ClientError:
            return False

    assert wait_until(accepted, timeout=15, interval=0.2)
    throttled = urllib.request.urlopen(f.endpoint + "/metrics").read().decode()
    assert "fluoro_requests_throttled_total" in throttled


@pytest.fixture
def impatient(make_fluoro):
    return make_fluoro(extra_args=["--header-timeout-secs", "1", "--body-timeout-secs", "1",
                                   "--idle-timeout-secs", "2"]).start()


def closed_within(sock, seconds):
    """True when the peer closes `sock` (reads EOF or a reset) within `seconds`; the bytes read
    before that are returned too."""
    sock.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True, data
            data += chunk
    except socket.timeout:
        return False, data
    except ConnectionResetError:
        return True, data


def test_stuck_and_idle_connections_are_closed(impatient):
    f = impatient
    # Headers that never end (slowloris).
    s = socket.create_connection(("127.0.0.1", f.http_port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    closed, _ = closed_within(s, 5)
    assert closed, "a connection whose headers never end stays open"
    s.close()

    # A body that stops arriving: the request fails and the connection does not hang.
    s = socket.create_connection(("127.0.0.1", f.http_port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Logs_20140328.DescribeLogGroups\r\n"
              b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{\"a\"")
    closed, data = closed_within(s, 6)
    assert data.startswith(b"HTTP/1.1 400") or closed, data
    s.close()

    # An idle keep-alive connection after a complete request is closed.
    s = socket.create_connection(("127.0.0.1", f.http_port))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    s.settimeout(2)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    closed, _ = closed_within(s, 8)
    assert closed, "an idle keep-alive connection stays open"
    s.close()

    # A connection that never sends anything.
    s = socket.create_connection(("127.0.0.1", f.http_port))
    closed, _ = closed_within(s, 5)
    assert closed
    s.close()

    # A long request in progress is not idle: a live tail stream outlives the idle timeout.
    with urllib.request.urlopen(f.endpoint + "/health", timeout=5) as r:
        assert r.status == 200
    f.client().create_log_group(logGroupName=GROUP)
    tail = urllib.request.urlopen(f"{f.endpoint}/api/v1/logs/tail?logGroupName={GROUP}", timeout=10)
    started = time.monotonic()
    f.client().create_log_stream(logGroupName=GROUP, logStreamName="s")
    time.sleep(3)
    f.client().put_log_events(logGroupName=GROUP, logStreamName="s",
                              logEvents=[{"timestamp": now_ms(), "message": "still here"}])
    got = b""
    while b"still here" not in got and time.monotonic() - started < 10:
        got += tail.fp.read1(65536)
    assert b"still here" in got
    tail.close()


def test_a_query_beyond_the_memory_pool_fails_clearly(make_fluoro):
    f = make_fluoro(extra_args=["--query-memory-bytes", str(MIB)]).start()
    logs = f.client()
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    for batch in range(6):
        events = [{"timestamp": now_ms(), "message": f"{batch}-{i}-" + "y" * 300} for i in range(2000)]
        logs.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=events)

    status, answer = f.sql("SELECT array_agg(message) AS all_messages FROM logs")
    assert status == 400, answer
    assert "Resources exhausted" in answer["error"], answer
    # Small queries still run, and the server keeps serving.
    status, answer = f.sql("SELECT count(*) AS n FROM logs")
    assert status == 200 and answer["rows"] == [{"n": 12000}], answer
