"""The store on S3-compatible storage (moto's server, started here on loopback): ingest of logs,
traces and metrics, flush, queries, compaction, retention deletion and a restart all work with
the data files in a bucket, under the configured prefix, and nothing in the local objects
directory; a bucket that cannot be reached stops start-up with a clear message."""

import json
import os
import socket
import subprocess
import time

import boto3
import pytest

from conftest import free_port, metric_value, now_ms, wait_until

from conftest import S3_BUCKET as BUCKET
PREFIX = "team-a"


def s3_config(tmp_path, endpoint, bucket=BUCKET):
    path = tmp_path / "fluoro-s3.toml"
    path.write_text(f'[s3]\nbucket = "{bucket}"\nprefix = "{PREFIX}"\nendpoint = "{endpoint}"\n'
                    'access_key_id = "minio"\nsecret_access_key = "minio-secret"\n')
    return ["--config", str(path)]


def keys(s3, prefix=PREFIX + "/"):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def local_objects(f):
    root = os.path.join(f.data_dir, "objects")
    return [os.path.join(d, n) for d, _, names in os.walk(root) for n in names]


def put_events(logs, group, stream, messages, timestamp=None):
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": timestamp or now_ms(), "message": m} for m in messages])


def test_ingest_flush_query_and_restart_on_s3(make_fluoro, s3_server, tmp_path):
    endpoint, s3 = s3_server
    f = make_fluoro(extra_args=s3_config(tmp_path, endpoint) + ["--flush-bytes", "1"]).start()
    logs, xray, cw = f.client("logs"), f.client("xray"), f.client("cloudwatch")
    logs.create_log_group(logGroupName="/s3/app")
    logs.create_log_stream(logGroupName="/s3/app", logStreamName="web")
    put_events(logs, "/s3/app", "web", [f"request {i} status={200 if i % 3 else 500}" for i in range(300)])
    start = time.time()
    trace_id = "1-%08x-%024x" % (int(start), 0x53)
    xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(
        {"name": "s3-svc", "id": "5300000000000001", "trace_id": trace_id, "start_time": start,
         "end_time": start + 0.1})])
    cw.put_metric_data(Namespace="OnS3", MetricData=[{"MetricName": "Hits", "Value": 4}])

    # Flushed into the bucket, under the prefix; nothing in the local objects directory.
    assert wait_until(lambda: any(k.endswith(".parquet") for k in keys(s3)), timeout=20), keys(s3)
    assert all(k.startswith(f"{PREFIX}/objects/") for k in keys(s3))
    assert wait_until(lambda: metric_value(f, "fluoro_buffer_bytes") == 0, timeout=20)
    assert local_objects(f) == []

    def check():
        events = logs.filter_log_events(logGroupName="/s3/app", filterPattern="status=500")["events"]
        assert len(events) == 100
        now = int(time.time())
        query_id = logs.start_query(logGroupName="/s3/app", startTime=now - 600, endTime=now + 60,
                                    queryString="filter @message like /status=200/ | stats count(*) as n")["queryId"]
        result = wait_until(lambda: (lambda r: r if r["status"] == "Complete" else None)(
            logs.get_query_results(queryId=query_id)), timeout=20)
        assert result["results"] == [[{"field": "n", "value": "200"}]]
        assert wait_until(lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"], timeout=10)
        data = cw.get_metric_data(MetricDataQueries=[{"Id": "h", "MetricStat": {
            "Metric": {"Namespace": "OnS3", "MetricName": "Hits"}, "Period": 60, "Stat": "Sum"}}],
            StartTime=start - 600, EndTime=start + 600)["MetricDataResults"][0]
        assert data["Values"] == [4.0]

    check()
    assert f.stop() == 0
    f.start()
    check()
    assert local_objects(f) == []


def test_compaction_and_retention_delete_objects_in_the_bucket(make_fluoro, s3_server, tmp_path):
    endpoint, s3 = s3_server
    args = s3_config(tmp_path, endpoint) + ["--flush-bytes", "1", "--maintenance-interval-secs", "1",
                                            "--file-delete-grace-secs", "1"]
    f = make_fluoro(extra_args=args).start()
    logs = f.client("logs")
    logs.create_log_group(logGroupName="/s3/compact")
    logs.create_log_stream(logGroupName="/s3/compact", logStreamName="s")
    # Nine flushes, nine small files: compaction (8 or more small files) merges them.
    for i in range(9):
        put_events(logs, "/s3/compact", "s", [f"batch {i} line {j}" for j in range(20)])
        assert wait_until(lambda: metric_value(f, "fluoro_buffer_bytes") == 0, timeout=20)
    assert wait_until(lambda: metric_value(f, "fluoro_data_files") < 9, timeout=30)
    assert wait_until(lambda: len([k for k in keys(s3) if k.endswith(".parquet")]) < 9, timeout=30), keys(s3)
    assert len(logs.filter_log_events(logGroupName="/s3/compact")["events"]) == 180

    # Events three days old in a group kept for one day: retention deletes their file.
    logs.create_log_group(logGroupName="/s3/expiring")
    logs.create_log_stream(logGroupName="/s3/expiring", logStreamName="s")
    put_events(logs, "/s3/expiring", "s", ["old news"], timestamp=now_ms() - 3 * 86_400_000)
    assert wait_until(lambda: metric_value(f, "fluoro_buffer_bytes") == 0, timeout=20)
    before = set(keys(s3))
    logs.put_retention_policy(logGroupName="/s3/expiring", retentionInDays=1)
    assert wait_until(lambda: logs.filter_log_events(logGroupName="/s3/expiring")["events"] == [], timeout=30)
    assert wait_until(lambda: before - set(keys(s3)), timeout=30), "no object was deleted"
    assert len(logs.filter_log_events(logGroupName="/s3/compact")["events"]) == 180


def test_accounts_have_their_own_prefixes(make_fluoro, s3_server, tmp_path):
    endpoint, s3 = s3_server
    args = s3_config(tmp_path, endpoint) + ["--flush-bytes", "1", "--access-key", "AKIDDEFAULTS3:default-secret-1",
                                            "--access-key", "111111111111/AKIDOTHERS3:other-secret-12"]
    f = make_fluoro(extra_args=args).start()
    for key, secret, group in (("AKIDDEFAULTS3", "default-secret-1", "/s3/default"),
                               ("AKIDOTHERS3", "other-secret-12", "/s3/other")):
        logs = boto3.client("logs", endpoint_url=f.endpoint, region_name="us-east-1", aws_access_key_id=key,
                            aws_secret_access_key=secret)
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        put_events(logs, group, "s", [f"hello from {group}"])
    other = f"{PREFIX}/accounts/111111111111/objects/"
    assert wait_until(lambda: keys(s3, other) and keys(s3, f"{PREFIX}/objects/"), timeout=20), keys(s3)


def test_an_unreachable_bucket_stops_start_up(make_fluoro, s3_server, tmp_path):
    endpoint, _ = s3_server
    f = make_fluoro(extra_args=s3_config(tmp_path, endpoint, bucket="no-such-bucket"))
    with pytest.raises(RuntimeError, match="exited with 1"):
        f.start(timeout=30)
    with open(f.log_path, encoding="utf-8", errors="replace") as log:
        assert "reaching account 000000000000's data files" in log.read()
