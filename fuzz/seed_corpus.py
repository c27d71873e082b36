#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus (fuzz/corpus/<target>/) from the specs' examples: code
spans, code blocks and test-vector tables of the sections that define each language or format,
plus a few inputs the specs describe but do not spell out (WAL frames, protobuf and CBOR
encodings of the specs' JSON examples, a gzip bomb). Run it with the test venv's Python (it
needs opentelemetry-proto and cbor2) when the specs change:

    python fuzz/seed_corpus.py --spec ../shared/spec
"""

import argparse
import gzip
import hashlib
import json
import os
import re
import struct
import zlib

# The order of fluoro_proto::cloudwatch::SERVED: the first byte of a codec input picks one.
CLOUDWATCH_OPERATIONS = [
    "PutMetricData", "GetMetricStatistics", "GetMetricData", "ListMetrics", "PutMetricAlarm",
    "PutCompositeAlarm", "DescribeAlarms", "DescribeAlarmsForMetric", "DescribeAlarmHistory", "SetAlarmState",
    "DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions", "TagResource", "UntagResource", "ListTagsForResource",
]
INSIGHTS_COMMANDS = ("fields", "filter", "stats", "parse", "sort", "limit", "display", "dedup", "unmask",
                     "pattern", "diff", "anomaly", "unnest", "lookup", "SOURCE", "filterIndex")


def sections(text, heading):
    """The lines under every heading matching `heading`, down to the next heading of the same
    or a higher level."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^(#+) ", line)
        if m and re.search(heading, line):
            level = len(m.group(1))
            body = []
            for other in lines[i + 1:]:
                n = re.match(r"^(#+) ", other)
                if n and len(n.group(1)) <= level:
                    break
                body.append(other)
            out.append("\n".join(body))
    return "\n".join(out)


def blocks(text):
    return [b.strip("\n") for b in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)]


def spans(text):
    without_blocks = re.sub(r"```.*?```", "", text, flags=re.S)
    return [s for s in re.findall(r"`([^`\n]+)`", without_blocks)]


def json_values(text):
    """Every JSON value in a block (whole, or one per line)."""
    found = []
    try:
        found.append(json.loads(text))
    except ValueError:
        for line in text.splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def table_rows(text):
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def unquote(cell):
    m = re.fullmatch(r"`([^`]*)`.*", cell)
    return m.group(1) if m else None


def op(name):
    return bytes([CLOUDWATCH_OPERATIONS.index(name)])


def wal_frame(payload):
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def wal_seeds():
    logs = struct.pack("<BQQqQI", 1, 1, 2, 1_700_000_000_000, 10, 2)
    for ts, message in ((1_700_000_000_000, b"first event"), (1_700_000_000_001, b'{"level":"ERROR"}')):
        logs += struct.pack("<qI", ts, len(message)) + message
    doc = b'{"name":"svc","id":"70de5b6f19ff9a0a","trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1.0,"end_time":2.0}'
    spans = struct.pack("<BqQI", 2, 1_700_000_000_000, 12, 1) + bytes(range(16))
    spans += struct.pack("<QQqqI", 0x70de5b6f19ff9a0a, 0, 1_000_000_000, 2_000_000_000, 3) + b"svc"
    spans += struct.pack("<I", len(doc)) + doc
    key = b'{"namespace":"MyApp","name":"Latency","dimensions":[["Service","checkout"]]}'
    metrics = struct.pack("<BqQI", 3, 1_700_000_000_000, 13, 1) + struct.pack("<QI", 7, len(key)) + key
    metrics += struct.pack("<I", 1) + struct.pack("<IqBHBdddd", 0, 1_700_000_000_000, 1, 60, 0, 2.0, 42.5, 12.5, 30.0)
    segment = b"FLWAL001" + wal_frame(logs) + wal_frame(spans) + wal_frame(metrics)
    # First byte even: the frame reader; odd: the payload decoder.
    return [b"\x00" + segment, b"\x00" + segment[:-5], b"\x01" + logs, b"\x01" + spans, b"\x01" + metrics]


def sigv4_seeds():
    """Requests signed as boto3 and presigned URLs sign them, with the fuzz target's key at its
    clock (fuzz/src/lib.rs `SIGV4_KEY`, `SIGV4_NOW`), in the target's text form."""
    import datetime
    from unittest import mock

    from botocore.auth import SigV4Auth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials("AKIDFUZZ", "fuzz-secret")
    endpoint = "http://127.0.0.1:4566"
    requests = [
        ("logs", AWSRequest(method="POST", url=endpoint + "/", data=b'{"logGroupName":"/app"}',
                            headers={"X-Amz-Target": "Logs_20140328.CreateLogGroup",
                                     "Content-Type": "application/x-amz-json-1.1"})),
        ("monitoring", AWSRequest(method="POST", url=endpoint + "/", data=b"Action=ListMetrics&Version=2010-08-01",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})),
        ("xray", AWSRequest(method="POST", url=endpoint + "/TraceSummaries", data=b'{"StartTime":1,"EndTime":2}',
                            headers={"Content-Type": "application/json"})),
    ]
    at = datetime.datetime(2026, 11, 22)
    seeds = []
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        for service, request in requests:
            SigV4Auth(credentials, service, "us-east-1").add_auth(request)
            seeds.append(sigv4_text(request))
        presigned = AWSRequest(method="GET", url=endpoint + "/",
                               params={"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": "App"})
        SigV4QueryAuth(credentials, "monitoring", "us-east-1", expires=300).add_auth(presigned)
        seeds.append(sigv4_text(presigned))
    return seeds


def sigv4_text(request):
    from urllib.parse import urlsplit

    url = urlsplit(request.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    headers = [f"host: {url.netloc}"] + [f"{k}: {v}" for k, v in request.headers.items()]
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    return f"{request.method} {target}\n".encode() + "\n".join(headers).encode() + b"\n\n" + body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "spec"))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "corpus"))
    args = parser.parse_args()
    spec = {name: open(os.path.join(args.spec, f"{name}.md"), encoding="utf-8").read()
            for name in ("logs", "insights", "metrics-alarms", "traces")}
    corpus = {}

    def add(target, data):
        if isinstance(data, str):
            data = data.encode()
        corpus.setdefault(target, set()).add(data)

    # Filter patterns: the test-vector table as `pattern \n message`, every code span of §5.
    patterns = sections(spec["logs"], r"^## 5\. ")
    for row in table_rows(sections(patterns, r"5\.6 ")):
        if len(row) >= 3 and unquote(row[1]) is not None:
            add("filter_pattern", unquote(row[1]) + "\n" + (unquote(row[2]) or ""))
    for span in spans(patterns) + spans(sections(spec["logs"], r"3\.11 ")):
        add("filter_pattern", span)
    for span in spans(sections(spec["logs"], r"5\.5 ")):
        if span.startswith("$"):
            add("filter_pattern", "[ip, user, status, bytes]\n127.0.0.1 frank 200 1534\n" + span)

    # Insights: blocks and spans that start with a command; SQL: the spans that are SELECTs.
    for piece in blocks(spec["insights"]) + spans(spec["insights"]):
        if piece.lstrip().startswith(INSIGHTS_COMMANDS):
            add("insights", piece)
        if piece.lstrip().upper().startswith("SELECT"):
            add("sql", piece)
    for sql in ("SELECT count(*) FROM logs",
                "SELECT log_stream, count(*) AS n FROM logs WHERE message LIKE '%ERROR%' GROUP BY 1 ORDER BY n DESC LIMIT 10",
                "SELECT timestamp, message FROM log_group('/fuzz/app') WHERE timestamp > now() - INTERVAL '1 hour'",
                "SELECT date_bin(INTERVAL '5 minutes', timestamp) AS t, count(*) FROM logs GROUP BY t",
                "SELECT body, severity_text, attributes['order.id'] FROM logs WHERE trace_id IS NOT NULL",
                "WITH e AS (SELECT * FROM logs WHERE message ~ 'time(out)?') SELECT count(*) FROM e"):
        add("sql", sql)

    # X-Ray filter expressions: every span of §6 and the test vectors.
    for span in spans(sections(spec["traces"], r"^## 6\. ")):
        add("xray_filter", span)

    # Composite alarm rules and metric math.
    for span in spans(sections(spec["metrics-alarms"], r"3\.9 ")) + blocks(sections(spec["metrics-alarms"], r"3\.9 ")):
        if re.search(r"\b(ALARM|OK|INSUFFICIENT_DATA|TRUE|FALSE)\b", span):
            add("alarm_rule", span)
    math = sections(spec["metrics-alarms"], r"2\.7 ")
    for span in spans(math) + blocks(math):
        add("metric_math", span)

    # Segment documents, daemon datagrams, EMF, Lambda lines, OTLP JSON.
    header = '{"format":"json","version":1}\n'
    for block in blocks(spec["traces"]):
        for value in json_values(block):
            if isinstance(value, dict) and ("trace_id" in value or "subsegments" in value):
                add("segment_json", json.dumps(value))
                add("udp_datagram", header + json.dumps(value))
                add("gzip", gzip.compress(json.dumps(value).encode(), mtime=0))
            if isinstance(value, dict) and "resourceSpans" in value:
                add("otlp_json", b"\x01" + json.dumps(value).encode())
        if block.startswith('{"format"'):
            add("udp_datagram", block)
    for block in blocks(spec["logs"]) + blocks(spec["metrics-alarms"]):
        for value in json_values(block):
            if isinstance(value, dict) and "_aws" in value:
                add("emf", json.dumps(value))
            if isinstance(value, dict) and "resourceLogs" in value:
                add("otlp_json", b"\x00" + json.dumps(value).encode())
            if isinstance(value, dict) and "resourceMetrics" in value:
                add("otlp_json", b"\x02" + json.dumps(value).encode())
    for block in blocks(sections(spec["logs"], r"^## 8\. ")):
        for line in block.splitlines():
            add("lambda_report", line.replace("\\t", "\t").replace("\\n", "\n"))
        for value in json_values(block):
            add("lambda_report", json.dumps(value))
    add("emf", json.dumps({"_aws": {"Timestamp": 1700000000000, "CloudWatchMetrics": [
        {"Namespace": "MyApp", "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": "checkout", "Latency": [12.5, 30]}))
    add("lambda_report", "REPORT RequestId: 11111111-aaaa-bbbb-cccc-000000000002\tDuration: 48.00 ms\t"
                         "Billed Duration: 48 ms\tMemory Size: 128 MB\tMax Memory Used: 72 MB\t\n")
    otlp_extra = {
        0: {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                              "scopeLogs": [{"logRecords": [{"timeUnixNano": "1700000000000000000", "severityText": "ERROR",
                                                             "body": {"stringValue": "boom"},
                                                             "traceId": "5759e988bd862e3fe1be46a994272793",
                                                             "attributes": [{"key": "order.id", "value": {"intValue": "42"}}]}]}]}]},
        1: {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                               "scopeSpans": [{"spans": [{"traceId": "5759e988bd862e3fe1be46a994272793", "spanId": "70de5b6f19ff9a0a",
                                                          "name": "GET /", "kind": 2, "startTimeUnixNano": "1700000000000000000",
                                                          "endTimeUnixNano": "1700000000100000000", "status": {"code": 2},
                                                          "attributes": [{"key": "http.response.status_code", "value": {"intValue": "500"}}]}]}]}]},
        2: {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                                 "scopeMetrics": [{"metrics": [
                                     {"name": "requests", "unit": "1", "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
                                         {"startTimeUnixNano": "1700000000000000000", "timeUnixNano": "1700000060000000000", "asInt": "7"}]}},
                                     {"name": "latency", "unit": "ms", "histogram": {"aggregationTemporality": 1, "dataPoints": [
                                         {"timeUnixNano": "1700000060000000000", "count": "3", "sum": 42.5, "bucketCounts": ["1", "2"],
                                          "explicitBounds": [10.0]}]}},
                                     {"name": "mem", "unit": "By", "gauge": {"dataPoints": [{"timeUnixNano": "1700000060000000000", "asDouble": 1.5}]}}]}]}]},
    }
    for kind, value in otlp_extra.items():
        add("otlp_json", bytes([kind]) + json.dumps(value).encode())
        add("gzip", gzip.compress(json.dumps(value).encode(), mtime=0))

    # OTLP protobuf: the JSON seeds, encoded.
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    messages = {0: ExportLogsServiceRequest, 1: ExportTraceServiceRequest, 2: ExportMetricsServiceRequest}
    for seed in list(corpus.get("otlp_json", ())):
        kind, body = seed[0], json.loads(seed[1:])
        try:
            message = json_format.ParseDict(body, messages[kind](), ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError):
            continue
        add("otlp_protobuf", bytes([kind]) + message.SerializeToString())

    # awsQuery bodies from the worked examples; their JSON 1.0 twins as CBOR.
    import cbor2
    for block in blocks(spec["metrics-alarms"]):
        if "Action=" in block:
            body = "".join(line.strip() for line in block.split("\n\n", 1)[-1].splitlines())
            action = re.search(r"Action=(\w+)", body)
            if action and action.group(1) in CLOUDWATCH_OPERATIONS:
                add("aws_query", op(action.group(1)) + body.encode())
        target = re.search(r"X-Amz-Target: GraniteServiceVersion20100801\.(\w+)", block)
        if target and target.group(1) in CLOUDWATCH_OPERATIONS:
            for value in json_values(block.split("\n\n", 1)[-1]):
                add("cbor", op(target.group(1)) + cbor2.dumps(value))
    for span in spans(spec["metrics-alarms"]):
        action = re.match(r"Action=(\w+)&", span)
        if action and action.group(1) in CLOUDWATCH_OPERATIONS:
            add("aws_query", op(action.group(1)) + span.encode())
    add("aws_query", op("PutCompositeAlarm") + b"Action=PutCompositeAlarm&Version=2010-08-01&AlarmName=c&AlarmRule=ALARM(a)%20OR%20OK(b)")
    add("aws_query", op("GetMetricData") + b"Action=GetMetricData&Version=2010-08-01&StartTime=2025-01-15T11%3A00%3A00Z"
        b"&EndTime=2025-01-15T12%3A00%3A00Z&MetricDataQueries.member.1.Id=m1"
        b"&MetricDataQueries.member.1.MetricStat.Metric.Namespace=MyApp&MetricDataQueries.member.1.MetricStat.Metric.MetricName=Latency"
        b"&MetricDataQueries.member.1.MetricStat.Period=60&MetricDataQueries.member.1.MetricStat.Stat=p99"
        b"&MetricDataQueries.member.2.Id=e1&MetricDataQueries.member.2.Expression=m1%2A2")
    add("cbor", op("GetMetricData") + cbor2.dumps({"StartTime": cbor2.CBORTag(1, 1736938800), "EndTime": cbor2.CBORTag(1, 1736942400),
        "MetricDataQueries": [{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "MyApp", "MetricName": "Latency",
        "Dimensions": [{"Name": "Service", "Value": "checkout"}]}, "Period": 60, "Stat": "Average"}},
        {"Id": "e1", "Expression": "RATE(m1)"}]}))
    add("cbor", op("PutMetricAlarm") + cbor2.dumps({"AlarmName": "a", "MetricName": "Latency", "Namespace": "MyApp", "Statistic": "Average",
        "Period": 60, "EvaluationPeriods": 3, "Threshold": 500.0, "ComparisonOperator": "GreaterThanThreshold"}))
    add("cbor", op("DescribeAlarms") + cbor2.dumps({"AlarmNamePrefix": "api-", "StateValue": "ALARM",
        "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 10}))
    add("cbor", op("PutMetricData") + cbor2.dumps({"Namespace": "MyApp", "MetricData": [
        {"MetricName": "Latency", "Value": 1.5, "Timestamp": cbor2.CBORTag(1, 1700000000.0)}]}))

    # WAL frames, and gzip inputs beyond the cap.
    for seed in wal_seeds():
        add("wal", seed)
    add("gzip", gzip.compress(b"\x00" * (16 << 20), mtime=0))
    add("gzip", gzip.compress(b"a", mtime=0) + gzip.compress(b"b", mtime=0))
    for seed in sigv4_seeds():
        add("sigv4", seed)

    for target, inputs in sorted(corpus.items()):
        directory = os.path.join(args.out, target)
        os.makedirs(directory, exist_ok=True)
        for data in inputs:
            with open(os.path.join(directory, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
                f.write(data)
        print(f"{target:>15}: {len(inputs)} seeds")


if __name__ == "__main__":
    main()
