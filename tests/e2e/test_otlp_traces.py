"""OTLP traces end to end: the OpenTelemetry Python SDK exports a client span in service A and
a server span in service B over gRPC and over HTTP; boto3 reads them back as X-Ray traces,
summaries and a service graph with the edge A → B."""

import gzip
import json
import time
import urllib.request

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import wait_until


def provider(service, exporter):
    p = TracerProvider(resource=Resource.create({"service.name": service, "cloud.provider": "aws",
                                                 "cloud.platform": "aws_ec2", "host.id": "i-0" + service}))
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


def grpc_exporter(fluoro):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter(endpoint="127.0.0.1:%d" % fluoro.ports["otlp_grpc"], insecure=True)


def http_exporter(fluoro, compression=None):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter(endpoint="http://127.0.0.1:%d/v1/traces" % fluoro.ports["otlp_http"],
                            compression=Compression.Gzip if compression else Compression.NoCompression)


def call_across_two_services(make_exporter, suffix):
    """Service A's client span calls service B, whose server span continues the trace."""
    a = provider("svc-a-" + suffix, make_exporter()).get_tracer("e2e")
    b = provider("svc-b-" + suffix, make_exporter()).get_tracer("e2e")
    with a.start_as_current_span("GET /checkout", kind=SpanKind.SERVER,
                                 attributes={"http.request.method": "GET", "url.full": "http://svc-a/checkout",
                                             "http.response.status_code": 200, "tenant": "acme"}) as root:
        with a.start_as_current_span("call b", kind=SpanKind.CLIENT,
                                     attributes={"peer.service": "svc-b-" + suffix,
                                                 "http.request.method": "POST",
                                                 "http.response.status_code": 500}) as client:
            context = trace.set_span_in_context(client)
            with b.start_as_current_span("POST /pay", context=context, kind=SpanKind.SERVER,
                                         attributes={"http.request.method": "POST",
                                                     "http.response.status_code": 500}) as server:
                server.set_status(Status(StatusCode.ERROR, "card declined"))
                server.record_exception(ValueError("card declined"))
    return "1-%s-%s" % (format(root.get_span_context().trace_id, "032x")[:8],
                        format(root.get_span_context().trace_id, "032x")[8:])


@pytest.mark.parametrize("transport", ["grpc", "http", "http-gzip"])
def test_two_services_over_otlp(fluoro, transport):
    make = {"grpc": lambda: grpc_exporter(fluoro), "http": lambda: http_exporter(fluoro),
            "http-gzip": lambda: http_exporter(fluoro, compression=True)}[transport]
    suffix = transport.replace("-", "")
    trace_id = call_across_two_services(make, suffix)
    xray = fluoro.client("xray")
    got = wait_until(lambda: (lambda t: t if t and len(t[0]["Segments"]) >= 2 else None)(
        xray.batch_get_traces(TraceIds=[trace_id])["Traces"]), timeout=10)
    assert got, "the spans did not arrive"
    docs = [json.loads(s["Document"]) for s in got[0]["Segments"]]
    names = sorted(d["name"] for d in docs)
    assert names == ["svc-a-" + suffix, "svc-b-" + suffix]
    a = [d for d in docs if d["name"] == "svc-a-" + suffix][0]
    b = [d for d in docs if d["name"] == "svc-b-" + suffix][0]
    assert a["origin"] == "AWS::EC2::Instance" and a["http"]["request"]["method"] == "GET"
    assert a["subsegments"][0]["namespace"] == "remote" and a["subsegments"][0]["fault"] is True
    assert b["fault"] is True and b["cause"]["exceptions"][0]["type"] == "ValueError"
    assert "fluoro_otel_attributes" not in a
    now = time.time()
    window = {"StartTime": now - 600, "EndTime": now + 60}
    found = xray.get_trace_summaries(FilterExpression='annotation[tenant] = "acme" AND edge("svc-a-%s", "svc-b-%s") { fault }' % (suffix, suffix), **window)
    assert [s["Id"] for s in found["TraceSummaries"]] == [trace_id]
    found = xray.get_trace_summaries(FilterExpression='annotation[otel.resource.host.id] = "i-0svc-b-%s"' % suffix, **window)
    assert [s["Id"] for s in found["TraceSummaries"]] == [trace_id]
    services = xray.get_service_graph(**window)["Services"]
    by_name = {(s["Name"], s.get("Type")): s for s in services}
    a_node, b_node = by_name[("svc-a-" + suffix, "AWS::EC2::Instance")], by_name[("svc-b-" + suffix, "AWS::EC2::Instance")]
    edge = [e for e in a_node["Edges"] if e["ReferenceId"] == b_node["ReferenceId"]]
    assert edge and edge[0]["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1


def otlp_post(fluoro, body, content_type="application/json", encoding=None, path="/v1/traces", port=None):
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    url = "http://127.0.0.1:%d%s" % (port or fluoro.ports["otlp_http"], path)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def json_request(trace_hex, spans):
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                               "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}


def test_otlp_json_partial_success_and_bad_input(fluoro):
    now_ns = time.time_ns()
    trace_hex = "%08x" % (now_ns // 10**9) + "ab" * 12
    good = {"traceId": trace_hex, "spanId": "1111111111111111", "name": "GET /", "kind": 2,
            "startTimeUnixNano": str(now_ns), "endTimeUnixNano": str(now_ns + 5_000_000)}
    bad = dict(good, spanId="00")
    status, _, body = otlp_post(fluoro, json.dumps(json_request(trace_hex, [good, bad])).encode())
    assert status == 200, body
    out = json.loads(body)
    assert out["partialSuccess"]["rejectedSpans"] == "1"
    # The same on the main port (X-Ray's OTLP endpoint).
    good2 = dict(good, spanId="2222222222222222")
    status, _, body = otlp_post(fluoro, gzip.compress(json.dumps(json_request(trace_hex, [good2])).encode()),
                                encoding="gzip", port=fluoro.http_port)
    assert status == 200 and json.loads(body) == {}
    # Enum names and snake_case keys are accepted too.
    named = {"trace_id": trace_hex, "span_id": "3333333333333333", "name": "GET /named", "kind": "SPAN_KIND_SERVER",
             "start_time_unix_nano": str(now_ns), "end_time_unix_nano": str(now_ns + 1000),
             "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}}
    body = {"resource_spans": [{"resource": {"attributes": [{"key": "service.name", "value": {"string_value": "named"}}]},
                                "scope_spans": [{"spans": [named]}]}]}
    status, _, out = otlp_post(fluoro, json.dumps(body).encode())
    assert status == 200 and json.loads(out) == {}, out
    xray = fluoro.client("xray")
    xray_id = "1-%s-%s" % (trace_hex[:8], trace_hex[8:])
    got = wait_until(lambda: (lambda t: t if t and len(t[0]["Segments"]) == 3 else None)(
        xray.batch_get_traces(TraceIds=[xray_id])["Traces"]), timeout=10)
    docs = {json.loads(s["Document"])["name"]: json.loads(s["Document"]) for s in got[0]["Segments"]}
    assert docs["named"]["fault"] is True
    # Bad input: undecodable, wrong content type, wrong encoding, a gzip bomb, unknown path.
    assert otlp_post(fluoro, b"{nope")[0] == 400
    assert otlp_post(fluoro, b"\x0a\xff\xff", content_type="application/x-protobuf")[0] == 400
    assert otlp_post(fluoro, b"{}", content_type="text/plain")[0] == 415
    assert otlp_post(fluoro, b"{}", encoding="br")[0] == 415
    assert otlp_post(fluoro, b"not gzip", encoding="gzip")[0] == 400
    bomb = gzip.compress(b"0" * (70 << 20))
    assert otlp_post(fluoro, bomb, encoding="gzip")[0] == 413
    assert otlp_post(fluoro, b"{}")[0] == 200  # an empty request is a success
    text = urllib.request.urlopen(fluoro.endpoint + "/metrics").read().decode()
    assert 'fluoro_trace_documents_rejected_total{reason="invalid_span",source="otlp"} 1' in text


def test_fluoro_traces_itself(make_fluoro):
    """With self-tracing on, fluoro's own requests and Insights runs are exported by the Rust
    opentelemetry-otlp exporter to fluoro's own OTLP/gRPC port and show in its service map."""
    f = make_fluoro()
    f.extra_args = ["--self-trace-endpoint", "http://127.0.0.1:%d" % f.ports["otlp_grpc"]]
    f.start()
    logs, xray = f.client("logs"), f.client("xray")
    logs.create_log_group(logGroupName="/self")
    logs.create_log_stream(logGroupName="/self", logStreamName="s")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/self", logStreamName="s",
                        logEvents=[{"timestamp": now_ms, "message": "hello %d" % i} for i in range(10)])
    query_id = logs.start_query(logGroupName="/self", startTime=now_ms // 1000 - 60, endTime=now_ms // 1000 + 60,
                                queryString="stats count(*)")["queryId"]
    assert wait_until(lambda: logs.get_query_results(queryId=query_id)["status"] == "Complete", timeout=20,
                      interval=0.5)
    now = time.time()
    window = {"StartTime": now - 600, "EndTime": now + 60}

    def traced(expression):
        pages = xray.get_paginator("get_trace_summaries").paginate(FilterExpression=expression, **window)
        return [t for page in pages for t in page["TraceSummaries"]]

    # Every poll is itself traced: poll slowly and read every page (pages may be empty).
    assert wait_until(lambda: traced('service("fluoro") AND annotation[otel.span.name] = "PutLogEvents"'),
                      timeout=30, interval=1)
    assert wait_until(lambda: traced('annotation[otel.span.name] = "logs.insights.query"'), timeout=30, interval=1)
    services = xray.get_service_graph(**window)["Services"]
    fluoro_node = [s for s in services if s["Name"] == "fluoro" and s.get("Type") != "client"][0]
    assert fluoro_node["SummaryStatistics"]["TotalCount"] >= 5
    # The OTLP exports themselves are not traced.
    assert not traced('annotation[url.path] BEGINSWITH "/v1/"')
