"""Hostile and malformed requests get the exact AWS error, and the next valid call succeeds."""

import http.client
import json

import pytest
from botocore.exceptions import ClientError

from conftest import now_ms

GROUP = "/bad/input"
STREAM = "s"


def raw(fluoro, body, target="Logs_20140328.DescribeLogGroups", content_type="application/x-amz-json-1.1",
        method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", fluoro.http_port, timeout=30)
    headers = {}
    if target is not None:
        headers["X-Amz-Target"] = target
    if content_type is not None:
        headers["Content-Type"] = content_type
    conn.request(method, "/", body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), json.loads(data) if data else None


def assert_still_serving(logs):
    logs.create_log_group(logGroupName=f"/after/{now_ms()}")


@pytest.mark.parametrize("body,target,content_type,want", [
    (b"{not json", "Logs_20140328.DescribeLogGroups", "application/x-amz-json-1.1", "SerializationException"),
    (b'{"logGroupName": 5}', "Logs_20140328.CreateLogGroup", "application/x-amz-json-1.1", "SerializationException"),
    (b'[1, 2]', "Logs_20140328.DescribeLogGroups", "application/x-amz-json-1.1", "SerializationException"),
    (b"{}", "Logs_20140328.NoSuchOperation", "application/x-amz-json-1.1", "UnknownOperationException"),
    (b"{}", "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", "UnknownOperationException"),
    (b"{}", None, "application/x-amz-json-1.1", "UnknownOperationException"),
    (b"{}", "Logs_20140328.DescribeLogGroups", "text/plain", "SerializationException"),
    (b"{}", "Logs_20140328.CreateLogGroup", "application/x-amz-json-1.1", "InvalidParameterException"),
])
def test_malformed_requests(fluoro, logs, body, target, content_type, want):
    status, headers, payload = raw(fluoro, body, target, content_type)
    assert status == 400
    assert payload["__type"] == want and payload["message"]
    assert headers.get("x-amzn-RequestId") or headers.get("x-amzn-requestid")
    assert_still_serving(logs)


def test_plain_json_and_missing_content_type_are_accepted(fluoro):
    for content_type in ("application/json", None):
        status, _, payload = raw(fluoro, b"{}", content_type=content_type)
        assert status == 200 and payload == {"logGroups": []}


def test_oversized_body(fluoro, logs):
    body = json.dumps({"logGroupName": "x" * (9 << 20)}).encode()
    status, _, payload = raw(fluoro, body, "Logs_20140328.CreateLogGroup")
    assert status == 400 and payload["__type"] == "InvalidParameterException"
    assert "too large" in payload["message"]
    assert_still_serving(logs)


def test_get_is_not_an_operation(fluoro):
    status, _, payload = raw(fluoro, None, method="GET")
    assert status == 400 and payload["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("name,fragment", [
    ("bad name with spaces", "regular expression pattern"),
    ("x" * 513, "both must have length less than or equal to 512"),
    ("aws/reserved", "aws/"),
])
def test_invalid_group_names(logs, name, fragment):
    with pytest.raises(ClientError) as info:
        logs.create_log_group(logGroupName=name)
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    assert fragment in info.value.response["Error"]["Message"]
    assert_still_serving(logs)


def test_invalid_stream_names_and_limits(logs):
    logs.create_log_group(logGroupName=GROUP)
    for name in ("has:colon", "has*star"):
        with pytest.raises(ClientError) as info:
            logs.create_log_stream(logGroupName=GROUP, logStreamName=name)
        assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as info:
        logs.describe_log_streams(logGroupName=GROUP, limit=51)
    assert info.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 50")
    with pytest.raises(ClientError) as info:
        logs.describe_log_streams(logGroupName=GROUP, orderBy="Bogus")
    assert "enum value set" in info.value.response["Error"]["Message"]
    assert_still_serving(logs)


def test_events_too_old_and_too_new_are_reported_not_stored(logs):
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    now = now_ms()
    resp = logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM,
                               logEvents=[{"timestamp": now - 15 * 86_400_000, "message": "old"}])
    assert resp["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    resp = logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM,
                               logEvents=[{"timestamp": now + 3 * 3_600_000, "message": "new"}])
    assert resp["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 0}
    assert logs.filter_log_events(logGroupName=GROUP)["events"] == []
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=[{"timestamp": now, "message": "ok"}])
    assert [e["message"] for e in logs.filter_log_events(logGroupName=GROUP)["events"]] == ["ok"]


def test_empty_message_and_empty_batch(fluoro, logs):
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    body = json.dumps({"logGroupName": GROUP, "logStreamName": STREAM,
                       "logEvents": [{"timestamp": now_ms(), "message": ""}]}).encode()
    status, _, payload = raw(fluoro, body, "Logs_20140328.PutLogEvents")
    assert status == 400 and payload["__type"] == "InvalidParameterException"
    assert "logEvents.1.member.message" in payload["message"]
    body = json.dumps({"logGroupName": GROUP, "logStreamName": STREAM, "logEvents": []}).encode()
    status, _, payload = raw(fluoro, body, "Logs_20140328.PutLogEvents")
    assert status == 400 and payload["__type"] == "InvalidParameterException"
    assert_still_serving(logs)


def test_otlp_paths_answer_clearly(fluoro):
    for path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
        conn = http.client.HTTPConnection("127.0.0.1", fluoro.ports["otlp_http"], timeout=10)
        conn.request("POST", path, body=b"", headers={"Content-Type": "application/x-protobuf"})
        assert conn.getresponse().status == 200  # an empty export is a success
    conn = http.client.HTTPConnection("127.0.0.1", fluoro.ports["otlp_http"], timeout=10)
    conn.request("POST", "/v1/nothing", body=b"", headers={"Content-Type": "application/x-protobuf"})
    assert conn.getresponse().status == 404


def test_list_lengths_are_validated(fluoro, logs):
    logs.create_log_group(logGroupName=GROUP)
    body = json.dumps({"logGroupName": GROUP, "logStreamNames": []}).encode()
    status, _, payload = raw(fluoro, body, "Logs_20140328.FilterLogEvents")
    assert status == 400 and payload["__type"] == "InvalidParameterException"
    assert "greater than or equal to 1" in payload["message"]
    body = json.dumps({"logGroupIdentifiers": [f"/g{i}" for i in range(51)]}).encode()
    status, _, payload = raw(fluoro, body, "Logs_20140328.DescribeLogGroups")
    assert status == 400 and payload["__type"] == "InvalidParameterException"
    assert "less than or equal to 50" in payload["message"]
    assert_still_serving(logs)
