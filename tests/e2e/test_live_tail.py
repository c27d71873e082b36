"""Live tail: the native server-sent-events API and StartLiveTail (boto3, AWS event-stream framing)
receive new events within a second, with the filter pattern applied, from PutLogEvents and OTLP."""

import json
import queue
import threading
import time
import urllib.request

from conftest import now_ms

GROUP = "/tail/app"


def sse_reader(url, out):
    """Reads server-sent events into `out` as (event, data, arrival time)."""
    def run():
        with urllib.request.urlopen(url, timeout=30) as resp:
            event, data = None, []
            for raw in resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    out.put((event, json.loads("\n".join(data)), time.monotonic()))
                    event, data = None, []
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_native_tail_streams_new_matching_events(fluoro):
    logs = fluoro.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="web-1")
    logs.put_log_events(logGroupName=GROUP, logStreamName="web-1",
                        logEvents=[{"timestamp": now_ms(), "message": "ERROR before the session"}])
    received = queue.Queue()
    sse_reader(fluoro.endpoint + "/api/v1/logs/tail?logGroupName=%s&filterPattern=ERROR" % GROUP, received)
    time.sleep(0.5)  # the subscription is open once the response headers came back
    sent = time.monotonic()
    logs.put_log_events(logGroupName=GROUP, logStreamName="web-1", logEvents=[
        {"timestamp": now_ms(), "message": "INFO all good"},
        {"timestamp": now_ms(), "message": "ERROR payment declined"},
    ])
    event, data, arrived = received.get(timeout=5)
    assert event == "events"
    assert [e["message"] for e in data] == ["ERROR payment declined"]
    assert data[0]["logGroupName"] == GROUP and data[0]["logStreamName"] == "web-1"
    assert len(data[0]["eventId"]) == 56
    assert arrived - sent < 1.0, "within a second"
    # OTLP records reach the tail too.
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(now_ms() * 1_000_000), "body": {"stringValue": "ERROR from otel"}}]}]}]}
    req = urllib.request.Request("http://127.0.0.1:%d/v1/logs" % fluoro.ports["otlp_http"],
                                 data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json", "x-aws-log-group": GROUP})
    urllib.request.urlopen(req, timeout=10).read()
    event, data, _ = received.get(timeout=5)
    assert json.loads(data[0]["message"])["body"] == "ERROR from otel"
    assert received.empty(), "nothing else: INFO lines and old events are not tailed"


def test_start_live_tail_with_boto3(fluoro):
    logs = fluoro.client("logs", inject_host_prefix=False)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="web-2")
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:" + GROUP
    response = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="ERROR")
    stream = response["responseStream"]
    events = iter(stream)
    start = next(events)
    assert start["sessionStart"]["logGroupIdentifiers"] == [arn]
    assert start["sessionStart"]["logEventFilterPattern"] == "ERROR"

    def writer():
        time.sleep(0.3)
        logs.put_log_events(logGroupName=GROUP, logStreamName="web-2", logEvents=[
            {"timestamp": now_ms(), "message": "INFO fine"},
            {"timestamp": now_ms(), "message": "ERROR disk full"},
        ])
    threading.Thread(target=writer).start()
    sent = time.monotonic()
    results, updates = [], 0
    for event in events:
        update = event["sessionUpdate"]
        updates += 1
        assert update["sessionMetadata"]["sampled"] is False
        results += update["sessionResults"]
        if results or updates > 5:
            break
    stream.close()
    assert [r["message"] for r in results] == ["ERROR disk full"]
    assert results[0]["logGroupIdentifier"] == arn and results[0]["logStreamName"] == "web-2"
    assert time.monotonic() - sent < 2.5, "delivered in the first update or two"

    # Request errors are ordinary JSON errors before any stream.
    import botocore.exceptions
    import pytest
    with pytest.raises(botocore.exceptions.ClientError) as info:
        logs.start_live_tail(logGroupIdentifiers=[arn + "-missing"])
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        logs.start_live_tail(logGroupIdentifiers=[arn], logStreamNames=["a"], logStreamNamePrefixes=["b"])
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
