"""Traces end to end: X-Ray documents over PutTraceSegments and the daemon's UDP port, read back
with boto3 (BatchGetTraces, GetTraceSummaries with every filter vector of the spec, service and
trace graphs, time series, groups), and the aws-xray-sdk sending real segments."""

import json
import os
import socket
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import metric_value, sampled_recorder, wait_until

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "proto", "tests", "fixtures", "filter_traces.json")
FIXTURE_EPOCH = 1704984576  # the trace-id epoch of every fixture trace (0x65a00000)


def shifted(doc_text, delta):
    """A fixture document moved `delta` seconds later: times and the trace-id epoch."""
    doc = json.loads(doc_text)

    def move(entity):
        for key in ("start_time", "end_time"):
            if key in entity:
                entity[key] = round(entity[key] + delta, 6)
        for sub in entity.get("subsegments", []):
            move(sub)

    move(doc)
    epoch, rest = doc["trace_id"][2:10], doc["trace_id"][11:]
    doc["trace_id"] = "1-%08x-%s" % (int(epoch, 16) + delta, rest)
    return json.dumps(doc)


def trace_id_of(name, delta):
    return "1-%08x-%024x" % (FIXTURE_EPOCH + delta, int(name[1:]))


def put(xray, docs):
    out = xray.put_trace_segments(TraceSegmentDocuments=docs)
    assert out["UnprocessedTraceSegments"] == [], out
    return out


def summaries(xray, **kwargs):
    found = []
    for page in xray.get_paginator("get_trace_summaries").paginate(**kwargs):
        found.extend(page["TraceSummaries"])
    return found


@pytest.fixture
def xray(fluoro):
    return fluoro.client("xray")


@pytest.fixture
def loaded(fluoro, xray):
    """The §6.6 fixture moved to now, stored, with group `slow`."""
    fixture = json.load(open(FIXTURE))
    delta = int(time.time()) - 600 - FIXTURE_EPOCH
    docs = [shifted(d, delta) for docs in fixture["traces"].values() for d in docs]
    put(xray, docs)
    xray.create_group(GroupName="slow", FilterExpression=fixture["groups"]["slow"])
    window = {"StartTime": FIXTURE_EPOCH + delta - 600, "EndTime": FIXTURE_EPOCH + delta + 3400}
    return fixture, delta, window


def test_every_filter_vector_over_the_wire(xray, loaded):
    fixture, delta, window = loaded
    names = {trace_id_of(n, delta): n for n in fixture["traces"]}
    failures = []
    for vector in fixture["vectors"]:
        got = summaries(xray, FilterExpression=vector["expression"], TimeRangeType="TraceId", **window)
        matched = sorted(names[s["Id"]] for s in got)
        if matched != vector["matches"]:
            failures.append(f"{vector['expression']!r}: expected {vector['matches']}, got {matched}")
    assert not failures, "\n".join(failures)
    for expression in fixture["invalid"]:
        with pytest.raises(ClientError) as e:
            xray.get_trace_summaries(FilterExpression=expression, **window)
        assert e.value.response["Error"]["Code"] == "InvalidRequestException", expression
        assert "Invalid filter expression at position" in e.value.response["Error"]["Message"] or "group" in expression


def test_summary_fields_and_time_range_types(xray, loaded):
    fixture, delta, window = loaded
    all_traces = summaries(xray, **window)
    assert len(all_traces) == 8
    by_name = {s["Id"][-1]: s for s in all_traces}
    t2 = by_name["2"]
    assert t2["HasFault"] is True and t2["ResponseTime"] == 1.5 and t2["Duration"] == 1.6
    assert t2["Http"]["HttpStatus"] == 502 and t2["Http"]["HttpMethod"] == "POST"
    assert t2["Users"][0]["UserName"] == "bob"
    assert t2["FaultRootCauses"][0]["Services"][-1]["Name"] == "backend.example.com"
    assert by_name["5"]["IsPartial"] is True and "ResponseTime" not in by_name["5"]
    assert by_name["1"]["Annotations"]["tier"][0]["AnnotationValue"] == {"NumberValue": 1.0}
    # Newest first (all fixture traces share their trace-id epoch, so order by event time).
    events = summaries(xray, TimeRangeType="Event", **window)
    assert len(events) == 8 and all("MatchedEventTime" in s for s in events)
    times = [s["MatchedEventTime"] for s in events]
    assert times == sorted(times, reverse=True)
    assert len(summaries(xray, TimeRangeType="Service", **window)) == 8
    # A window that holds nothing, and one over the limit.
    assert summaries(xray, StartTime=window["EndTime"] + 7200, EndTime=window["EndTime"] + 7300) == []
    with pytest.raises(ClientError) as e:
        xray.get_trace_summaries(StartTime=window["StartTime"], EndTime=window["StartTime"] + 90_000)
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError):
        xray.get_trace_summaries(StartTime=window["EndTime"], EndTime=window["StartTime"])
    sampled = xray.get_trace_summaries(Sampling=True, SamplingStrategy={"Name": "FixedRate", "Value": 0.0}, **window)
    assert sampled["TraceSummaries"] == []


def test_batch_get_traces_graphs_and_groups(xray, loaded):
    fixture, delta, window = loaded
    t2, t4 = trace_id_of("T2", delta), trace_id_of("T4", delta)
    missing = "1-%08x-%024x" % (FIXTURE_EPOCH + delta, 999)
    out = xray.batch_get_traces(TraceIds=[t2, t4, missing, "not-a-trace-id"])
    assert [t["Id"] for t in out["Traces"]] == [t2, t4]
    assert out["UnprocessedTraceIds"] == ["not-a-trace-id"]
    t2_docs = [json.loads(s["Document"]) for s in out["Traces"][0]["Segments"]]
    assert {d["name"] for d in t2_docs} == {"api.example.com", "backend.example.com"}
    assert out["Traces"][0]["Duration"] == 1.6
    # The W3C form of an id is accepted too.
    hex_id = t2[2:10] + t2[11:]
    assert xray.batch_get_traces(TraceIds=[hex_id])["Traces"][0]["Id"] == t2
    # Paging: 5 traces per page.
    every = [trace_id_of(n, delta) for n in fixture["traces"]]
    pages = list(xray.get_paginator("batch_get_traces").paginate(TraceIds=every))
    assert len(pages) == 2 and sum(len(p["Traces"]) for p in pages) == 8
    with pytest.raises(ClientError) as e:
        xray.batch_get_traces(TraceIds=[t2] * 101)
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"

    graph = xray.get_trace_graph(TraceIds=[t4])["Services"]
    kinds = {(s["Name"], s.get("Type")) for s in graph}
    assert ("items", "AWS::DynamoDB::Table") in kinds and ("items-fn", "AWS::Lambda::Function") in kinds
    assert ("my-api/prod", "client") in kinds

    services = xray.get_service_graph(**window)["Services"]
    by_key = {(s["Name"], s.get("Type")): s for s in services}
    api = by_key[("api.example.com", "AWS::EC2::Instance")]
    backend_ref = by_key[("backend.example.com", "AWS::EC2::Instance")]["ReferenceId"]
    edge = [e for e in api["Edges"] if e["ReferenceId"] == backend_ref][0]
    assert edge["SummaryStatistics"]["TotalCount"] == 2
    assert edge["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    assert by_key[("payments.example.net", "remote")]["State"] == "unknown"
    # A group filters the graph.
    slow = xray.get_service_graph(GroupName="slow", **window)["Services"]
    assert {s["Name"] for s in slow if s.get("Type") != "client"} == {
        "my-api/prod", "items-fn", "items", "legacy.example.com", "payments.example.net"}

    series = xray.get_time_series_service_statistics(
        EntitySelectorExpression='service("api.example.com")', Period=60, **window)
    total = sum(p["ServiceSummaryStatistics"]["TotalCount"] for p in series["TimeSeriesServiceStatistics"])
    assert total == 5  # T1 T2 T3 T6 T8 (T5 is in progress)

    groups = xray.get_groups()["Groups"]
    assert [g["GroupName"] for g in groups] == ["Default", "slow"]
    arn = [g for g in groups if g["GroupName"] == "slow"][0]["GroupARN"]
    assert xray.get_group(GroupARN=arn)["Group"]["FilterExpression"] == "responsetime > 2"
    xray.update_group(GroupName="slow", FilterExpression="responsetime > 2.5")
    got = summaries(xray, FilterExpression='group.arn = "%s"' % arn, **window)
    assert [s["Id"] for s in got] == [trace_id_of("T7", delta)]
    for bad in ({"GroupName": "bad name!"}, {"GroupName": "slow"}, {"GroupName": "x", "FilterExpression": "fault AND"}):
        with pytest.raises(ClientError) as e:
            xray.create_group(**bad)
        assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError):
        xray.delete_group(GroupName="Default")
    xray.delete_group(GroupName="slow")
    with pytest.raises(ClientError):
        xray.get_group(GroupName="slow")


def test_put_trace_segments_validation(xray):
    now = time.time()
    good = {"trace_id": "1-%08x-%024x" % (int(now), 7), "id": "70000000000000a1", "name": "svc",
            "start_time": now, "end_time": now + 0.1}
    docs = [
        json.dumps(good),
        "not json",
        json.dumps(dict(good, trace_id="1-123")),
        json.dumps(dict(good, id="70000000000000a2", start_time=now - 40 * 86400, end_time=now - 40 * 86400 + 1)),
        json.dumps({k: v for k, v in dict(good, id="70000000000000a3").items() if k != "end_time"}),
    ]
    out = xray.put_trace_segments(TraceSegmentDocuments=docs)
    codes = [(u["Id"], u["ErrorCode"]) for u in out["UnprocessedTraceSegments"]]
    assert codes == [("", "InvalidSegment"), ("70000000000000a1", "InvalidTraceId"),
                     ("70000000000000a2", "InvalidSegment"), ("70000000000000a3", "InvalidSegment")]
    assert all(u["Message"].startswith("Invalid segment. ErrorCode: ") for u in out["UnprocessedTraceSegments"])
    # The good one is stored and readable at once.
    got = xray.batch_get_traces(TraceIds=[good["trace_id"]])["Traces"]
    assert len(got) == 1
    for bad in ([], ["{}"] * 1001):
        with pytest.raises(ClientError) as e:
            xray.put_trace_segments(TraceSegmentDocuments=bad)
        assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    # Unknown paths and malformed bodies keep the rest-json error shape.
    request = urllib.request.Request(xray.meta.endpoint_url + "/TraceSummaries", data=b"{nope", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request)
    assert e.value.code == 400 and e.value.headers["x-amzn-ErrorType"] == "InvalidRequestException"


def send_udp(port, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload, ("127.0.0.1", port))


metric = metric_value


def test_udp_daemon_protocol(fluoro, xray):
    port = fluoro.ports["xray"]
    now = time.time()
    trace_id = "1-%08x-%024x" % (int(now), 42)
    segment = {"trace_id": trace_id, "id": "4200000000000001", "name": "udp-svc", "start_time": now,
               "end_time": now + 0.05, "http": {"response": {"status": 200}}}
    sub = {"type": "subsegment", "trace_id": trace_id, "parent_id": "4200000000000001", "id": "4200000000000002",
           "name": "DynamoDB", "namespace": "aws", "start_time": now + 0.01, "end_time": now + 0.02,
           "aws": {"operation": "GetItem", "table_name": "orders"}}
    send_udp(port, b'{"format":"json","version":1}\n' + json.dumps(sub).encode())
    send_udp(port, b'{"format": "JSON", "version": 1}\n' + json.dumps(segment).encode())
    for garbage in (b"no header", b'{"format":"json","version":2}\n{}', b'{"format":"json","version":1}\n',
                    b'{"format":"json","version":1}\n{"trace_id":"x"}', b"\xff" * 70000):
        try:
            send_udp(port, garbage)
        except OSError:
            pass  # the kernel refuses datagrams over 65,507 bytes: nothing to drop then

    def stored():
        traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
        return traces and len(traces[0]["Segments"]) == 2 and traces[0]

    trace = wait_until(stored, timeout=10)
    assert trace, "UDP documents did not arrive"
    docs = {json.loads(s["Document"])["name"]: json.loads(s["Document"]) for s in trace["Segments"]}
    assert docs["udp-svc"]["subsegments"][0]["name"] == "DynamoDB"
    assert docs["DynamoDB"]["inferred"] is True and docs["DynamoDB"]["origin"] == "AWS::DynamoDB::Table"
    assert wait_until(lambda: metric(fluoro, "fluoro_trace_documents_rejected_total") >= 4, timeout=5)
    # The listener keeps serving after garbage.
    trace2 = "1-%08x-%024x" % (int(now), 43)
    send_udp(port, b'{"format":"json","version":1}\n' + json.dumps(dict(segment, trace_id=trace2)).encode())
    assert wait_until(lambda: xray.batch_get_traces(TraceIds=[trace2])["Traces"], timeout=10)


def test_documents_survive_a_kill(make_fluoro):
    f = make_fluoro().start()
    xray = f.client("xray")
    now = time.time()
    ids = []
    for i in range(20):
        trace_id = "1-%08x-%024x" % (int(now), 500 + i)
        ids.append(trace_id)
        put(xray, [json.dumps({"trace_id": trace_id, "id": "%016x" % (0x5000 + i), "name": "k",
                               "start_time": now, "end_time": now + 1})])
    f.kill()
    f.start()
    got = f.client("xray").batch_get_traces(TraceIds=ids[:5])
    pages = list(f.client("xray").get_paginator("batch_get_traces").paginate(TraceIds=ids))
    assert len(got["Traces"]) == 5
    assert sum(len(p["Traces"]) for p in pages) == 20


def test_the_xray_sdk_over_udp(fluoro, xray):
    """A small app on aws-xray-sdk (Python): centralized sampling through the TCP proxy, a
    segment with annotations and metadata, a failing downstream HTTP call, and a DynamoDB call;
    everything over UDP."""
    from aws_xray_sdk.core.models import http as HTTP

    recorder = sampled_recorder(fluoro, xray, "sdk-app")
    segment = recorder.begin_segment("sdk-app")
    assert segment.sampled is True  # the centralized rule, FixedRate 1
    segment.put_http_meta(HTTP.URL, "http://sdk-app.local/orders")
    segment.put_http_meta(HTTP.METHOD, "POST")
    segment.put_annotation("customer", "c-17")
    segment.put_metadata("payload", {"items": 3}, "app")
    sub = recorder.begin_subsegment("inventory.example.net", namespace="remote")
    sub.put_http_meta(HTTP.URL, "https://inventory.example.net/stock")
    sub.put_http_meta(HTTP.STATUS, 503)
    sub.add_fault_flag()
    recorder.end_subsegment()
    dynamo = recorder.begin_subsegment("DynamoDB", namespace="aws")
    dynamo.set_aws({"operation": "PutItem", "table_name": "orders", "region": "us-east-1"})
    dynamo.put_http_meta(HTTP.STATUS, 200)
    recorder.end_subsegment()
    segment.put_http_meta(HTTP.STATUS, 500)
    trace_id = segment.trace_id
    recorder.end_segment()

    got = wait_until(lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"], timeout=10)
    assert got, "the SDK's segment did not arrive"
    docs = [json.loads(s["Document"]) for s in got[0]["Segments"]]
    root = [d for d in docs if d["name"] == "sdk-app"][0]
    assert root["annotations"] == {"customer": "c-17"}
    assert root["metadata"]["app"]["payload"] == {"items": 3}
    assert root["aws"]["xray"]["sdk"].startswith("X-Ray for Python")
    assert root["aws"]["xray"]["sampling_rule_name"] == "sdk-app-all"
    inferred = {(d["name"], d["origin"]) for d in docs if d.get("inferred")}
    assert inferred == {("inventory.example.net", "remote"), ("DynamoDB", "AWS::DynamoDB::Table")}
    now = time.time()
    window = {"StartTime": now - 600, "EndTime": now + 60}
    found = summaries(xray, FilterExpression='annotation.customer = "c-17"', **window)
    assert [s["Id"] for s in found] == [trace_id]
    assert found[0]["HasFault"] is True
    found = summaries(xray, FilterExpression='service("inventory.example.net") { fault }', **window)
    assert [s["Id"] for s in found] == [trace_id]
    found = summaries(xray, FilterExpression='edge("sdk-app", id(type: "AWS::DynamoDB::Table")) { ok }', **window)
    assert [s["Id"] for s in found] == [trace_id]
    services = {(s["Name"], s.get("Type")): s for s in xray.get_service_graph(**window)["Services"]}
    app = services[("sdk-app", None)]
    orders = services[("orders", "AWS::DynamoDB::Table")]
    assert orders["ReferenceId"] in [e["ReferenceId"] for e in app["Edges"]]
    assert ("sdk-app", "client") in services

def test_sampling_rules_targets_and_tags(fluoro, xray):
    rule = dict(RuleName="never-orders", ResourceARN="*", Priority=1, FixedRate=0.0, ReservoirSize=0,
                ServiceName="orders-sampled", ServiceType="*", Host="*", HTTPMethod="*", URLPath="*", Version=1)
    record = xray.create_sampling_rule(SamplingRule=rule, Tags=[{"Key": "team", "Value": "a"}])["SamplingRuleRecord"]
    arn = record["SamplingRule"]["RuleARN"]
    assert arn.endswith(":sampling-rule/never-orders")
    records = xray.get_sampling_rules()["SamplingRuleRecords"]
    assert [r["SamplingRule"]["RuleName"] for r in records] == ["never-orders", "Default"]
    assert records[1]["SamplingRule"]["FixedRate"] == 0.05 and records[1]["SamplingRule"]["ReservoirSize"] == 1
    assert xray.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    xray.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "test"}])
    xray.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert xray.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "test"}]
    updated = xray.update_sampling_rule(SamplingRuleUpdate={"RuleARN": arn, "Priority": 2})["SamplingRuleRecord"]
    assert updated["SamplingRule"]["Priority"] == 2 and updated["ModifiedAt"] >= updated["CreatedAt"]
    xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "Default", "FixedRate": 0.1})
    for call, kwargs, code in [
        (xray.create_sampling_rule, {"SamplingRule": rule}, "InvalidRequestException"),
        (xray.create_sampling_rule, {"SamplingRule": dict(rule, RuleName="v2", Version=2)}, "InvalidRequestException"),
        (xray.update_sampling_rule, {"SamplingRuleUpdate": {"RuleName": "Default", "ServiceName": "x"}}, "InvalidRequestException"),
        (xray.delete_sampling_rule, {"RuleName": "Default"}, "InvalidRequestException"),
        (xray.delete_sampling_rule, {"RuleName": "nope"}, "InvalidRequestException"),
        (xray.list_tags_for_resource, {"ResourceARN": "arn:aws:xray:us-east-1:000000000000:group/nope/X"}, "ResourceNotFoundException"),
        (xray.tag_resource, {"ResourceARN": arn, "Tags": [{"Key": "aws:x", "Value": "y"}]}, "InvalidRequestException"),
    ]:
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        assert e.value.response["Error"]["Code"] == code, kwargs

    now = int(time.time())
    targets = xray.get_sampling_targets(SamplingStatisticsDocuments=[
        {"RuleName": "Default", "ClientID": "a" * 24, "Timestamp": now, "RequestCount": 10, "SampledCount": 1},
        {"RuleName": "Default", "ClientID": "b" * 24, "Timestamp": now, "RequestCount": 30, "SampledCount": 1},
        {"RuleName": "nope", "ClientID": "c" * 24, "Timestamp": now, "RequestCount": 1, "SampledCount": 0},
    ])
    quotas = [t["ReservoirQuota"] for t in targets["SamplingTargetDocuments"]]
    assert sum(quotas) <= 2 and quotas[1] == 1, quotas  # the reservoir (1/s) goes to the busier client
    assert targets["SamplingTargetDocuments"][0]["FixedRate"] == 0.1
    assert targets["UnprocessedStatistics"] == [{"RuleName": "nope", "ErrorCode": "ResourceNotFound", "Message": "Rule not found"}]
    assert targets["LastRuleModification"].timestamp() > 0
    summaries_out = xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
    assert summaries_out[0]["RuleName"] == "Default" and summaries_out[0]["RequestCount"] == 40

    deleted = xray.delete_sampling_rule(RuleName="never-orders")["SamplingRuleRecord"]
    assert deleted["SamplingRule"]["RuleName"] == "never-orders"
    assert [r["SamplingRule"]["RuleName"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]] == ["Default"]


def test_the_sdk_polls_rules_and_targets_through_the_tcp_proxy(fluoro, xray):
    from aws_xray_sdk.core.recorder import AWSXRayRecorder

    for name, rate in (("never-polled", 0.0), ("always-polled", 1.0)):
        xray.create_sampling_rule(SamplingRule=dict(
            RuleName=name, ResourceARN="*", Priority=1 if rate == 0 else 2, FixedRate=rate, ReservoirSize=0,
            ServiceName=name, ServiceType="*", Host="*", HTTPMethod="*", URLPath="*", Version=1))
    recorder = AWSXRayRecorder()
    recorder.configure(daemon_address="127.0.0.1:%d" % fluoro.ports["xray"], sampling=True, context_missing="LOG_ERROR")
    recorder.begin_segment("always-polled")  # starts the pollers
    recorder.end_segment()
    assert wait_until(lambda: metric(fluoro, 'fluoro_api_requests_total{operation="xray/GetSamplingRules"}') >= 1, timeout=10)
    time.sleep(0.5)
    never = recorder.begin_segment("never-polled")
    assert never.sampled is False
    recorder.end_segment()
    always = recorder.begin_segment("always-polled")
    assert always.sampled is True
    trace_id = always.trace_id
    recorder.end_segment()
    assert wait_until(lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"], timeout=10)
    # The target poller reports matched rules every ~10 s through /SamplingTargets.
    def reported():
        out = xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
        return {s["RuleName"]: s["RequestCount"] for s in out}
    counts = wait_until(lambda: (lambda r: r if "never-polled" in r else None)(reported()), timeout=25)
    assert counts and counts["never-polled"] >= 1 and counts["always-polled"] >= 1, counts


def test_service_graph_is_the_same_from_rollups(make_fluoro):
    """With a 1 s settle time the roller takes over: the graph read from rollups equals the one
    computed from the documents just after ingest."""
    f = make_fluoro(["--trace-settle-secs", "1"]).start()
    xray = f.client("xray")
    fixture = json.load(open(FIXTURE))
    delta = int(time.time()) - 600 - FIXTURE_EPOCH
    put(xray, [shifted(d, delta) for docs in fixture["traces"].values() for d in docs])
    start = (FIXTURE_EPOCH + delta) // 60 * 60 - 600
    window = {"StartTime": start, "EndTime": start + 1800}

    def canonical():
        services = xray.get_service_graph(**window)["Services"]
        return json.dumps(services, sort_keys=True, default=str)

    def series():
        out = xray.get_time_series_service_statistics(EntitySelectorExpression='service("api.example.com")',
                                                      Period=60, **window)
        return json.dumps(out["TimeSeriesServiceStatistics"], sort_keys=True, default=str)

    live, live_series = canonical(), series()
    assert wait_until(lambda: metric(f, "fluoro_trace_rollup_minutes_total") >= 1
                      and metric(f, "fluoro_trace_rollup_dirty_minutes") == 0, timeout=15)
    assert canonical() == live
    assert series() == live_series
    assert len(json.loads(live)) >= 10 and len(json.loads(live_series)) >= 1


def test_trace_size_limit(make_fluoro):
    f = make_fluoro(["--trace-max-documents", "3"]).start()
    xray = f.client("xray")
    now = time.time()
    trace_id = "1-%08x-%024x" % (int(now), 77)
    docs = [json.dumps({"trace_id": trace_id, "id": "%016x" % (0x7700 + i), "name": "big", "start_time": now,
                        "end_time": now + 0.1}) for i in range(5)]
    out = xray.put_trace_segments(TraceSegmentDocuments=docs)
    assert [u["Id"] for u in out["UnprocessedTraceSegments"]] == ["0000000000007703", "0000000000007704"]
    assert all("trace size limit exceeded" in u["Message"] for u in out["UnprocessedTraceSegments"])
    trace = xray.batch_get_traces(TraceIds=[trace_id])["Traces"][0]
    assert trace["LimitExceeded"] is True and len(trace["Segments"]) == 3
