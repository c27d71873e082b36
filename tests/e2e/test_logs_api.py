"""CloudWatch Logs operations through boto3: success and error paths (spec/logs.md §1-§3, §10)."""

import json
import pathlib

import pytest
from botocore.exceptions import ClientError

from conftest import now_ms, wait_until

GROUP = "/aws/lambda/checkout"
STREAM = "2026/11/21/[$LATEST]abc"


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def setup_stream(logs, group=GROUP, stream=STREAM):
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)


def put(logs, messages, group=GROUP, stream=STREAM, start=None):
    start = start or now_ms() - 60_000
    events = [{"timestamp": start + i, "message": m} for i, m in enumerate(messages)]
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def test_groups_lifecycle(logs):
    logs.create_log_group(logGroupName=GROUP, tags={"team": "payments"})
    logs.create_log_group(logGroupName="/app/api", logGroupClass="INFREQUENT_ACCESS")
    assert error_of(logs.create_log_group, logGroupName=GROUP) == (
        "ResourceAlreadyExistsException", "The specified log group already exists")
    groups = logs.describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/app/api", GROUP]
    g = groups[1]
    assert g["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:*"
    assert g["logGroupArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
    assert g["logGroupClass"] == "STANDARD" and "retentionInDays" not in g
    assert groups[0]["logGroupClass"] == "INFREQUENT_ACCESS"
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws")["logGroups"]] == [GROUP]
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern="check")["logGroups"]] == [GROUP]
    assert error_of(logs.describe_log_groups, logGroupNamePrefix="/a", logGroupNamePattern="b")[1] == (
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    logs.delete_log_group(logGroupName="/app/api")
    assert error_of(logs.delete_log_group, logGroupName="/app/api") == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [GROUP]


def test_describe_groups_pagination(logs):
    names = [f"/page/g{i:02d}" for i in range(7)]
    for n in names:
        logs.create_log_group(logGroupName=n)
    seen = []
    for page in logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": 3}):
        seen += [g["logGroupName"] for g in page["logGroups"]]
    assert seen == names
    assert error_of(logs.describe_log_groups, nextToken="bogus")[1] == "The specified nextToken is invalid."
    assert error_of(logs.describe_log_groups, limit=51)[0] == "InvalidParameterException"


def test_streams_lifecycle(logs):
    assert error_of(logs.create_log_stream, logGroupName=GROUP, logStreamName="s") == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    setup_stream(logs)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="b-stream")
    assert error_of(logs.create_log_stream, logGroupName=GROUP, logStreamName=STREAM) == (
        "ResourceAlreadyExistsException", "The specified log stream already exists")
    streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [STREAM, "b-stream"]
    assert "firstEventTimestamp" not in streams[0]
    assert streams[0]["arn"].endswith(f":log-group:{GROUP}:log-stream:{STREAM}")
    start = now_ms() - 10_000
    put(logs, ["one", "two"], stream="b-stream", start=start)
    streams = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True)["logStreams"]
    assert streams[0]["logStreamName"] == "b-stream"
    assert streams[0]["firstEventTimestamp"] == start and streams[0]["lastEventTimestamp"] == start + 1
    assert "lastIngestionTime" in streams[0]
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName=GROUP, logStreamNamePrefix="b-")["logStreams"]] == ["b-stream"]
    assert error_of(logs.describe_log_streams, logGroupName=GROUP, orderBy="LastEventTime",
                    logStreamNamePrefix="b")[1] == "Cannot order by LastEventTime with a logStreamNamePrefix."
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
    assert len(logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"]) == 2
    assert error_of(logs.describe_log_streams, logGroupName=GROUP, logGroupIdentifier=arn)[0] == "ValidationException"
    logs.delete_log_stream(logGroupName=GROUP, logStreamName="b-stream")
    assert error_of(logs.delete_log_stream, logGroupName=GROUP, logStreamName="b-stream") == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    # A re-created stream does not see its predecessor's events.
    logs.create_log_stream(logGroupName=GROUP, logStreamName="b-stream")
    got = logs.get_log_events(logGroupName=GROUP, logStreamName="b-stream", startFromHead=True)
    assert got["events"] == []


def test_put_and_get_log_events(logs):
    setup_stream(logs)
    start = now_ms() - 100_000
    resp = put(logs, [f"event {i}" for i in range(25)], start=start)
    assert len(resp["nextSequenceToken"]) == 56 and "rejectedLogEventsInfo" not in resp
    head = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=True, limit=10)
    assert [e["message"] for e in head["events"]] == [f"event {i}" for i in range(10)]
    assert all(e["ingestionTime"] >= start for e in head["events"])
    page2 = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, nextToken=head["nextForwardToken"], limit=10)
    assert [e["message"] for e in page2["events"]] == [f"event {i}" for i in range(10, 20)]
    back = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, nextToken=page2["nextBackwardToken"], limit=5)
    assert [e["message"] for e in back["events"]] == [f"event {i}" for i in range(5, 10)]
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, limit=3)
    assert [e["message"] for e in tail["events"]] == ["event 22", "event 23", "event 24"]
    # At the end, a forward call returns exactly the token it was given.
    end = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, nextToken=tail["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == tail["nextForwardToken"]
    # endTime is exclusive, startTime inclusive.
    window = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startTime=start + 5,
                                 endTime=start + 8, startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["event 5", "event 6", "event 7"]
    assert error_of(logs.get_log_events, logGroupName=GROUP, logStreamName=STREAM, nextToken="x")[1] == (
        "The specified nextToken is invalid.")
    assert error_of(logs.get_log_events, logGroupName=GROUP, logStreamName="nope")[1] == (
        "The specified log stream does not exist.")
    assert "less than or equal to 10000" in error_of(
        logs.get_log_events, logGroupName=GROUP, logStreamName=STREAM, limit=10001)[1]
    empty_stream = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startTime=1, endTime=2)
    assert empty_stream["events"] == []


def test_put_log_events_rules(logs):
    setup_stream(logs)
    now = now_ms()
    day = 86_400_000
    assert error_of(logs.put_log_events, logGroupName="/missing", logStreamName=STREAM,
                    logEvents=[{"timestamp": now, "message": "x"}])[1] == "The specified log group does not exist."
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName="missing",
                    logEvents=[{"timestamp": now, "message": "x"}])[1] == "The specified log stream does not exist."
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName=STREAM,
                    logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}])[1] == (
        "Log events in a single PutLogEvents request must be in chronological order.")
    big = "x" * 1_048_551
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName=STREAM,
                    logEvents=[{"timestamp": now, "message": big}])[1] == (
        "Log event too large: 1048577 bytes exceeds limit of 1048576")
    half = "y" * 600_000
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName=STREAM,
                    logEvents=[{"timestamp": now, "message": half}] * 2)[1] == (
        "Upload too large: 1200052 bytes exceeds limit of 1048576")
    assert error_of(logs.put_log_events, logGroupName=GROUP, logStreamName=STREAM,
                    logEvents=[{"timestamp": now - 2 * day, "message": "a"}, {"timestamp": now, "message": "b"}])[1] == (
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    too_many = [{"timestamp": now, "message": "m"}] * 10_001
    code, message = error_of(logs.put_log_events, logGroupName=GROUP, logStreamName=STREAM, logEvents=too_many)
    assert code == "InvalidParameterException" and "logEvents" in message
    # The spec's worked example: too old, expired (retention 7 d), accepted, too new.
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=7)
    resp = logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=[
        {"timestamp": now - 20 * day, "message": "too old"},
        {"timestamp": now - 10 * day, "message": "expired"},
        {"timestamp": now - 3_600_000, "message": "kept"},
        {"timestamp": now + 3 * 3_600_000, "message": "too new"},
    ])
    assert resp["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 1, "expiredLogEventEndIndex": 2, "tooNewLogEventStartIndex": 3}
    got = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["kept"]
    # Sequence tokens are ignored; duplicates are stored twice.
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, sequenceToken="whatever",
                        logEvents=[{"timestamp": now, "message": "dup"}])
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=[{"timestamp": now, "message": "dup"}])
    got = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["kept", "dup", "dup"]


def test_filter_log_events(logs):
    setup_stream(logs)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="other")
    start = now_ms() - 50_000
    put(logs, [json.dumps({"level": "ERROR", "msg": "boom"}), "plain INFO line", "[ERROR 500] INTERNAL SERVER ERROR"],
        start=start)
    put(logs, [json.dumps({"level": "INFO", "latency": 1300}), "WARN disk at 91%"], stream="other", start=start + 10)

    def messages(**kwargs):
        return [e["message"] for e in logs.filter_log_events(logGroupName=GROUP, **kwargs)["events"]]

    assert messages(filterPattern='{ $.level = "ERROR" }') == ['{"level": "ERROR", "msg": "boom"}']
    assert messages(filterPattern="ERROR") == ['{"level": "ERROR", "msg": "boom"}', "[ERROR 500] INTERNAL SERVER ERROR"]
    assert messages(filterPattern='"INTERNAL SERVER ERROR"') == ["[ERROR 500] INTERNAL SERVER ERROR"]
    assert messages(filterPattern="?WARN ?INFO") == ["plain INFO line", '{"level": "INFO", "latency": 1300}',
                                                     "WARN disk at 91%"]
    assert messages(filterPattern="{ $.latency > 1000 }") == ['{"level": "INFO", "latency": 1300}']
    assert messages(filterPattern="%^\\[ERROR 5[0-9]{2}\\]%") == ["[ERROR 500] INTERNAL SERVER ERROR"]
    assert messages(filterPattern="[w1=WARN, rest]") == ["WARN disk at 91%"]
    assert messages(logStreamNames=["other"]) == ['{"level": "INFO", "latency": 1300}', "WARN disk at 91%"]
    assert messages(logStreamNamePrefix="oth", filterPattern="WARN") == ["WARN disk at 91%"]
    assert messages(startTime=start + 2, endTime=start + 10) == ["[ERROR 500] INTERNAL SERVER ERROR",
                                                               '{"level": "INFO", "latency": 1300}']
    desc = messages(startTime=start, startFromHead=False)
    assert desc == list(reversed(messages(startTime=start)))
    resp = logs.filter_log_events(logGroupName=GROUP)
    assert resp["searchedLogStreams"] == [] and "nextToken" not in resp
    ev = resp["events"][0]
    assert set(ev) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert len(ev["eventId"]) == 56 and ev["logStreamName"] == STREAM
    # Paging with the paginator visits everything once.
    ids = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=GROUP, PaginationConfig={"PageSize": 2}):
        ids += [e["eventId"] for e in page["events"]]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert ids == [e["eventId"] for e in resp["events"]]
    # A token from another query is refused.
    token = logs.filter_log_events(logGroupName=GROUP, limit=1)["nextToken"]
    assert error_of(logs.filter_log_events, logGroupName=GROUP, filterPattern="ERROR", nextToken=token)[1] == (
        "The specified nextToken is invalid.")
    assert error_of(logs.filter_log_events, logGroupName=GROUP, filterPattern="%(x)%")[1] == (
        "Invalid character(s) in term '%(x)%'")
    assert error_of(logs.filter_log_events, logGroupName=GROUP, filterPattern="{ $.a = }")[1] == "Invalid filter pattern"
    assert error_of(logs.filter_log_events, logGroupName=GROUP, logStreamNames=["a"],
                    logStreamNamePrefix="b")[0] == "InvalidParameterException"
    assert error_of(logs.filter_log_events, logGroupName=GROUP, startFromHead=False)[0] == "InvalidParameterException"
    assert error_of(logs.filter_log_events, logGroupName="/nope")[0] == "ResourceNotFoundException"


def test_retention_policy(logs):
    setup_stream(logs)
    now = now_ms()
    day = 86_400_000
    put(logs, ["old event"], start=now - 5 * day)
    put(logs, ["new"], start=now - 1000)
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == len("old event") + len("new")
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=3)
    group = logs.describe_log_groups()["logGroups"][0]
    assert group["retentionInDays"] == 3
    assert group["storedBytes"] == len("new"), "expired events do not count"

    # Expired events are hidden at once.
    got = logs.filter_log_events(logGroupName=GROUP)["events"]
    assert [e["message"] for e in got] == ["new"]
    got = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=True)["events"]
    assert [e["message"] for e in got] == ["new"]
    code, message = error_of(logs.put_retention_policy, logGroupName=GROUP, retentionInDays=2)
    assert code == "InvalidParameterException"
    assert message == ("1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy constraint: "
                       "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, "
                       "545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]")
    assert error_of(logs.put_retention_policy, logGroupName="/x", retentionInDays=1)[0] == "ResourceNotFoundException"
    logs.delete_retention_policy(logGroupName=GROUP)
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]
    assert error_of(logs.delete_retention_policy, logGroupName="/x")[0] == "ResourceNotFoundException"


def test_tags(logs):
    logs.create_log_group(logGroupName=GROUP, tags={"a": "1"})
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}
    logs.tag_resource(resourceArn=arn, tags={"b": "2", "a": "3"})
    assert logs.list_tags_for_resource(resourceArn=arn + ":*")["tags"] == {"a": "3", "b": "2"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a", "missing"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    logs.tag_log_group(logGroupName=GROUP, tags={"c": "4"})
    logs.untag_log_group(logGroupName=GROUP, tags=["b"])
    assert logs.list_tags_log_group(logGroupName=GROUP)["tags"] == {"c": "4"}
    many = {f"k{i}": "v" for i in range(50)}
    with pytest.raises(ClientError) as info:
        logs.tag_resource(resourceArn=arn, tags=many)
    assert info.value.response["Error"]["Code"] == "TooManyTagsException"
    assert info.value.response["resourceName"] == arn
    missing = "arn:aws:logs:us-east-1:000000000000:log-group:/missing"
    assert error_of(logs.list_tags_for_resource, resourceArn=missing)[0] == "ResourceNotFoundException"
    other_account = "arn:aws:logs:us-east-1:111111111111:log-group:" + GROUP
    assert error_of(logs.tag_resource, resourceArn=other_account, tags={"x": "y"})[0] == "ResourceNotFoundException"


def test_group_delete_removes_data_and_recreate_is_empty(logs):
    setup_stream(logs)
    put(logs, ["before delete"])
    logs.delete_log_group(logGroupName=GROUP)
    setup_stream(logs)
    assert logs.filter_log_events(logGroupName=GROUP)["events"] == []


def test_events_searchable_immediately_after_ack(logs):
    setup_stream(logs)
    put(logs, ["needle-" + str(now_ms())])
    got = logs.filter_log_events(logGroupName=GROUP, filterPattern="needle")["events"]
    assert len(got) == 1


def test_metrics_endpoint(fluoro, logs):
    import urllib.request
    setup_stream(logs)
    put(logs, ["counted"])
    text = urllib.request.urlopen(fluoro.endpoint + "/metrics").read().decode()
    assert "fluoro_log_events_ingested_total 1" in text
    assert "fluoro_wal_fsync_seconds_bucket" in text


def test_flush_and_restart_keeps_everything(make_fluoro):
    f = make_fluoro(extra_args=["--flush-interval-secs", "1"]).start()
    logs = f.client()
    setup_stream(logs)
    put(logs, [f"flushed {i}" for i in range(100)])
    flushed = wait_until(lambda: list(pathlib.Path(f.data_dir, "objects", "logs").glob("*.parquet")), timeout=15)
    assert flushed, "the memtable was flushed to Parquet"
    put(logs, ["after flush"])
    assert len(logs.filter_log_events(logGroupName=GROUP)["events"]) == 101
    assert f.stop() == 0
    f.start()
    logs = f.client()
    got = logs.filter_log_events(logGroupName=GROUP)["events"]
    assert len(got) == 101 and got[-1]["message"] == "after flush"
    assert len(logs.filter_log_events(logGroupName=GROUP, filterPattern="flushed")["events"]) == 100
