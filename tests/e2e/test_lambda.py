"""Lambda without setup: a simulated function writes START/END/REPORT lines with X-Ray trace ids
through put_log_events and sends the invocations' segments over the daemon's UDP port; the
AWS/Lambda metrics appear with correct values, an alarm on p99 Duration fires, the trace's logs
are found, and the native service map shows the function as one node with its cold start."""

import datetime as dt
import json
import os
import socket
import urllib.request

from conftest import wait_until

FUNCTION = "orders-fn"
GROUP = "/aws/lambda/" + FUNCTION


def boundary():
    return dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)


def trace_id(epoch):
    return "1-%08x-%s" % (epoch, os.urandom(12).hex())


def report(request_id, duration, trace, segment, init=None, status=None):
    parts = ["REPORT RequestId: " + request_id, "Duration: %.2f ms" % duration,
             "Billed Duration: %d ms" % (int(duration) + 1), "Memory Size: 128 MB", "Max Memory Used: 71 MB"]
    if init is not None:
        parts.append("Init Duration: %.2f ms" % init)
    if status:
        parts.append("Status: " + status)
    parts += ["XRAY TraceId: " + trace, "SegmentId: " + segment, "Sampled: true"]
    return "\t".join(parts) + "\t\n"


def segments(trace, start, duration_s, cold):
    """Lambda's service segment and the function segment under it (Initialization on a cold start)."""
    service_id, function_id = os.urandom(8).hex(), os.urandom(8).hex()
    end = start + duration_s
    subs = []
    t = start + 0.001
    if cold:
        subs.append({"id": os.urandom(8).hex(), "name": "Initialization", "start_time": t, "end_time": t + 0.15})
        t += 0.15
    subs.append({"id": os.urandom(8).hex(), "name": "Invocation", "start_time": t, "end_time": end - 0.002})
    subs.append({"id": os.urandom(8).hex(), "name": "Overhead", "start_time": end - 0.002, "end_time": end - 0.001})
    service = {"trace_id": trace, "id": service_id, "name": FUNCTION, "origin": "AWS::Lambda",
               "start_time": start, "end_time": end, "http": {"response": {"status": 200}},
               "aws": {"request_id": os.urandom(16).hex()}}
    function = {"trace_id": trace, "id": function_id, "parent_id": service_id, "name": FUNCTION,
                "origin": "AWS::Lambda::Function", "start_time": start + 0.001, "end_time": end - 0.001,
                "aws": {"account_id": "000000000000", "cloudwatch_logs": [{"log_group": GROUP}]},
                "subsegments": subs}
    return [service, function], function_id


def test_simulated_lambda(fluoro):
    logs = fluoro.client("logs")
    cw = fluoro.client("cloudwatch")
    xray = fluoro.client("xray")
    logs.create_log_group(logGroupName=GROUP)
    streams = ["2026/11/22/[$LATEST]aaaa", "2026/11/22/[$LATEST]bbbb"]
    for s in streams:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=s)
    # Three invocations in the minute before the current one: two environments (a cold start
    # each), one invocation failing with a timeout.
    base = boundary() - dt.timedelta(seconds=50)
    base_s = base.timestamp()
    invocations = [  # (stream, offset s, duration ms, init ms, status)
        (0, 0, 120.5, 180.0, None),
        (1, 2, 2400.0, 175.0, "timeout"),
        (0, 5, 80.25, None, None),
    ]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    traces = []
    for i, (stream, offset, duration, init, status) in enumerate(invocations):
        start_s = base_s + offset
        trace = trace_id(int(start_s))
        docs, function_segment = segments(trace, start_s, duration / 1000, init is not None)
        for doc in docs:
            udp.sendto(b'{"format":"json","version":1}\n' + json.dumps(doc).encode(), ("127.0.0.1", fluoro.ports["xray"]))
        rid = "00000000-0000-0000-0000-%012d" % i
        ms = int(start_s * 1000)
        logs.put_log_events(logGroupName=GROUP, logStreamName=streams[stream], logEvents=[
            {"timestamp": ms, "message": "START RequestId: %s Version: $LATEST\n" % rid},
            {"timestamp": ms + 1, "message": "%s\t%s\tINFO\tcharging order %d\n" % (dt.datetime.now().isoformat(), rid, i)},
            {"timestamp": ms + int(duration), "message": "END RequestId: %s\n" % rid},
            {"timestamp": ms + int(duration) + 1, "message": report(rid, duration, trace, function_segment, init, status)},
        ])
        traces.append(trace)

    # The AWS/Lambda metrics, with the FunctionName dimension.
    listed = cw.list_metrics(Namespace="AWS/Lambda")["Metrics"]
    names = sorted({m["MetricName"] for m in listed})
    assert names == ["ConcurrentExecutions", "Duration", "Errors", "InitDuration", "Invocations", "MaxMemoryUsed"]
    assert all(m["Dimensions"] == [{"Name": "FunctionName", "Value": FUNCTION}] for m in listed)

    def stat(name, **kwargs):
        out = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=name,
                                       Dimensions=[{"Name": "FunctionName", "Value": FUNCTION}],
                                       StartTime=base - dt.timedelta(minutes=5), EndTime=base + dt.timedelta(minutes=5),
                                       Period=600, **kwargs)["Datapoints"]
        assert len(out) == 1, out
        return out[0]

    assert stat("Invocations", Statistics=["Sum"])["Sum"] == 3
    errors = stat("Errors", Statistics=["Sum", "Average"])
    assert errors["Sum"] == 1 and abs(errors["Average"] - 1 / 3) < 1e-9, "Average is the error rate"
    duration = stat("Duration", Statistics=["Maximum", "Minimum"], Unit="Milliseconds")
    assert (duration["Minimum"], duration["Maximum"]) == (80.25, 2400.0)
    assert stat("Duration", ExtendedStatistics=["p50"])["ExtendedStatistics"]["p50"] == 120.5
    assert stat("ConcurrentExecutions", Statistics=["Maximum"])["Maximum"] == 2
    assert stat("MaxMemoryUsed", Statistics=["Maximum"])["Maximum"] == 71

    # An alarm on p99 Duration works as it does in AWS.
    cw.put_metric_alarm(AlarmName="orders-fn-slow", Namespace="AWS/Lambda", MetricName="Duration",
                        Dimensions=[{"Name": "FunctionName", "Value": FUNCTION}], ExtendedStatistic="p99",
                        Period=60, EvaluationPeriods=1, Threshold=1000, ComparisonOperator="GreaterThanThreshold")
    alarm = cw.describe_alarms(AlarmNames=["orders-fn-slow"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM", alarm["StateReason"]
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [2400.0]
    cw.put_metric_alarm(AlarmName="orders-fn-errors", Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=[{"Name": "FunctionName", "Value": FUNCTION}], Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
    assert cw.describe_alarms(AlarmNames=["orders-fn-errors"])["MetricAlarms"][0]["StateValue"] == "ALARM"

    # The REPORT line ties the logs to the trace; Insights filters by it.
    answer = wait_until(lambda: (a := json.load(urllib.request.urlopen(
        fluoro.endpoint + "/api/v1/traces/%s/logs" % traces[1], timeout=10)))["traceFound"] and a, timeout=15)
    assert answer and answer["segmentLogGroups"] == [GROUP]
    assert [e["message"].split(" ")[0] for e in answer["events"]] == ["REPORT"]

    # X-Ray keeps Lambda's two nodes; the native service map shows one, and the cold start's
    # Initialization subsegment is in the trace.
    got = wait_until(lambda: (t := xray.batch_get_traces(TraceIds=[traces[0]])["Traces"]) and len(t[0]["Segments"]) == 2 and t,
                     timeout=15)
    assert got, "segments did not arrive"
    docs = [json.loads(s["Document"]) for s in got[0]["Segments"]]
    function = next(d for d in docs if d["origin"] == "AWS::Lambda::Function")
    assert [s["name"] for s in function["subsegments"]] == ["Initialization", "Invocation", "Overhead"]
    start, end = int(base_s) - 60, int(base_s) + 120
    graph = xray.get_service_graph(StartTime=start, EndTime=end)["Services"]
    assert sorted(s["Type"] for s in graph if s["Name"] == FUNCTION) == ["AWS::Lambda", "AWS::Lambda::Function", "client"]
    native = json.load(urllib.request.urlopen(
        fluoro.endpoint + "/api/v1/traces/service-map?startTime=%d&endTime=%d" % (start, end), timeout=10))
    nodes = [s for s in native["services"] if s["Type"] != "client"]
    assert [(s["Name"], s["Type"]) for s in nodes] == [(FUNCTION, "AWS::Lambda::Function")]
    assert nodes[0]["SummaryStatistics"]["TotalCount"] == 3
    assert nodes[0]["Edges"] == []
