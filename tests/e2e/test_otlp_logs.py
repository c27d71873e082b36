"""OTLP logs and trace ↔ log correlation end to end: the OpenTelemetry Python SDK traces a request
across two services (frontend over gRPC, backend over HTTP) whose log records carry the trace
context; the trace's logs come back from the native API, through Insights and SQL, with the OTLP
fields queryable; bad records get partial success."""

import json
import logging
import time
import urllib.error
import urllib.request

import pytest
from opentelemetry import context, propagate, trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from conftest import now_ms, wait_until


def service(fluoro, name, transport):
    """A tracer and a Python logger that export to fluoro as service `name`."""
    resource = Resource.create({"service.name": name, "service.instance.id": name + "-1"})
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        endpoint = "127.0.0.1:%d" % fluoro.ports["otlp_grpc"]
        log_exporter = OTLPLogExporter(endpoint=endpoint, insecure=True)
        span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        base = "http://127.0.0.1:%d" % fluoro.ports["otlp_http"]
        log_exporter = OTLPLogExporter(endpoint=base + "/v1/logs")
        span_exporter = OTLPSpanExporter(endpoint=base + "/v1/traces")
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    logger = logging.getLogger("test." + name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logger.addHandler(handler)
    return tracer_provider.get_tracer(name), logger, (tracer_provider, logger_provider, logger, handler)


def shutdown(parts):
    tracer_provider, logger_provider, logger, handler = parts
    logger.removeHandler(handler)
    tracer_provider.shutdown()
    logger_provider.shutdown()


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


def sql(fluoro, query):
    req = urllib.request.Request(fluoro.endpoint + "/api/v1/sql", data=json.dumps({"query": query}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["rows"]


def insights(logs, groups, query):
    now = int(time.time())
    qid = logs.start_query(logGroupNames=groups, startTime=now - 3600, endTime=now + 600, queryString=query)["queryId"]
    answer = wait_until(lambda: (r := logs.get_query_results(queryId=qid))["status"] == "Complete" and r, timeout=30)
    assert answer, "query did not complete"
    return [{f["field"]: f["value"] for f in row if f["field"] != "@ptr"} for row in answer["results"]]


@pytest.fixture
def traced_request(fluoro):
    """frontend (gRPC) calls backend (HTTP); each logs inside its span."""
    front_tracer, front_log, front = service(fluoro, "frontend", "grpc")
    back_tracer, back_log, back = service(fluoro, "backend", "http")
    with front_tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER) as root:
        front_log.info("checkout started", extra={"http.method": "GET", "user.tier": "gold"})
        with front_tracer.start_as_current_span("POST backend", kind=SpanKind.CLIENT):
            carrier = {}
            propagate.inject(carrier)
            token = context.attach(propagate.extract(carrier))
            try:
                with back_tracer.start_as_current_span("POST /charge", kind=SpanKind.SERVER) as charge:
                    back_log.warning("charging card", extra={"order.id": "o-17", "amount": 42})
                    back_span = charge.get_span_context().span_id
            finally:
                context.detach(token)
        front_log.error("checkout finished with a warning")
    trace_id = root.get_span_context().trace_id
    shutdown(front)
    shutdown(back)
    hex_id = "%032x" % trace_id
    return {"hex": hex_id, "xray": "1-%s-%s" % (hex_id[:8], hex_id[8:]), "backend_span": "%016x" % back_span}


def test_logs_of_a_trace_across_services(fluoro, traced_request):
    ids = traced_request
    url = fluoro.endpoint + "/api/v1/traces/%s/logs" % ids["xray"]
    answer = wait_until(lambda: (a := get_json(url))["traceFound"] and len(a["events"]) == 3 and a, timeout=20)
    assert answer, get_json(url)
    events = answer["events"]
    assert [e["logGroupName"] for e in events] == ["/otel/frontend", "/otel/backend", "/otel/frontend"]
    assert [e["logStreamName"] for e in events] == ["frontend-1", "backend-1", "frontend-1"]
    backend = json.loads(events[1]["message"])
    assert backend["body"] == "charging card"
    assert backend["severityText"] == "WARN" and backend["severityNumber"] == 13
    assert backend["attributes"]["order.id"] == "o-17" and backend["attributes"]["amount"] == 42
    assert backend["resource"]["attributes"]["service.name"] == "backend"
    assert backend["traceId"] == ids["hex"] and backend["spanId"] == ids["backend_span"]
    assert events[1]["spanId"] == ids["backend_span"]
    # The 32-hex form names the same trace; another trace has no logs.
    assert len(get_json(fluoro.endpoint + "/api/v1/traces/%s/logs" % ids["hex"])["events"]) == 3
    other = get_json(fluoro.endpoint + "/api/v1/traces/1-00000000-000000000000000000000001/logs")
    assert other["events"] == [] and other["traceFound"] is False
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(fluoro.endpoint + "/api/v1/traces/nope/logs", timeout=10)
    assert info.value.code == 400 and "trace id" in json.load(info.value)["error"]


def test_trace_logs_through_insights_and_sql(fluoro, traced_request):
    ids = traced_request
    logs = fluoro.client("logs")
    groups = ["/otel/frontend", "/otel/backend"]
    wait_until(lambda: len(get_json(fluoro.endpoint + "/api/v1/traces/%s/logs" % ids["hex"])["events"]) == 3,
               timeout=20)
    rows = insights(logs, groups, 'filter @xrayTraceId = "%s" | fields body, severityText, @xraySegmentId '
                                  '| sort @timestamp asc' % ids["xray"])
    assert [r["body"] for r in rows] == ["checkout started", "charging card", "checkout finished with a warning"]
    assert [r["severityText"] for r in rows] == ["INFO", "WARN", "ERROR"]
    assert rows[1]["@xraySegmentId"] == ids["backend_span"]
    rows = insights(logs, groups, 'filter traceId = "%s" and attributes.order.id = "o-17" '
                                  '| fields resource.attributes.service.name as svc, attributes.amount' % ids["hex"])
    assert rows == [{"svc": "backend", "attributes.amount": "42"}]
    rows = insights(logs, groups, 'filter severityNumber >= 13 | stats count(*) as n by resource.attributes.service.name '
                                  '| sort n desc')
    assert {r["resource.attributes.service.name"]: r["n"] for r in rows} == {"backend": "1", "frontend": "1"}

    rows = sql(fluoro, "SELECT log_group, body, severity_text, severity_number, span_id, xray_trace_id, attributes "
                       "FROM logs WHERE trace_id = '%s' ORDER BY timestamp" % ids["hex"])
    assert [r["body"] for r in rows] == ["checkout started", "charging card", "checkout finished with a warning"]
    assert rows[1]["log_group"] == "/otel/backend" and rows[1]["severity_text"] == "WARN"
    assert rows[1]["severity_number"] == 13 and rows[1]["span_id"] == ids["backend_span"]
    assert rows[1]["xray_trace_id"] == ids["xray"]
    attributes = json.loads(rows[1]["attributes"])
    assert attributes["order.id"] == "o-17" and attributes["amount"] == 42
    assert attributes["code.function.name"] == "traced_request"  # the SDK's own attributes are kept too


def post_logs(fluoro, body, headers=None, port="otlp_http"):
    base = "http://127.0.0.1:%d" % fluoro.ports[port] if port != "main" else fluoro.endpoint
    req = urllib.request.Request(base + "/v1/logs", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def record(body, ms, **extra):
    return {"timeUnixNano": str(ms * 1_000_000), "severityText": "INFO", "body": {"stringValue": body}, **extra}


def test_routing_headers_partial_success_and_side_effects(fluoro):
    logs = fluoro.client("logs")
    cw = fluoro.client("cloudwatch")
    # A metric filter on the header-named group: OTLP events feed it like PutLogEvents'.
    logs.create_log_group(logGroupName="/app/orders")
    logs.put_metric_filter(logGroupName="/app/orders", filterName="errors", filterPattern='{ $.severityText = "ERROR" }',
                           metricTransformations=[{"metricName": "OrderErrors", "metricNamespace": "App",
                                                   "metricValue": "1"}])
    now = now_ms()
    body = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]},
        "scopeLogs": [{"logRecords": [
            record("fine", now - 2000),
            {**record("boom", now - 1000), "severityText": "ERROR"},
            record("ancient", now - 20 * 86_400_000),
            record("future", now + 3 * 3_600_000),
        ]}]}]}
    answer = post_logs(fluoro, body, {"x-aws-log-group": "/app/orders", "x-aws-log-stream": "web-7"})
    assert answer["partialSuccess"]["rejectedLogRecords"] == "2"
    assert json.loads(answer["partialSuccess"]["errorMessage"]) == {"tooOldLogEventCount": 1, "tooNewLogEventCount": 1}
    got = logs.get_log_events(logGroupName="/app/orders", logStreamName="web-7", startFromHead=True)["events"]
    assert [json.loads(e["message"])["body"] for e in got] == ["fine", "boom"]
    stream = logs.describe_log_streams(logGroupName="/app/orders")["logStreams"][0]
    assert stream["logStreamName"] == "web-7" and stream["lastEventTimestamp"] == now - 1000
    assert wait_until(lambda: cw.list_metrics(Namespace="App", MetricName="OrderErrors")["Metrics"])
    # Resource attributes name the group and stream when there is no header; the main port serves /v1/logs too.
    body = {"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "aws.log.group.names", "value": {"arrayValue": {"values": [{"stringValue": "/app/from-attr"}]}}},
            {"key": "aws.log.stream.names", "value": {"stringValue": "s-1"}}]},
        "scopeLogs": [{"logRecords": [record("via attributes", now)]}]}]}
    assert post_logs(fluoro, body, port="main") == {}
    got = logs.get_log_events(logGroupName="/app/from-attr", logStreamName="s-1")["events"]
    assert [json.loads(e["message"])["body"] for e in got] == ["via attributes"]
    # An invalid group name rejects its records; a malformed body is a 400 in OTLP's shape.
    answer = post_logs(fluoro, body, {"x-aws-log-group": "bad group!"})
    assert answer["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "bad group!" in answer["partialSuccess"]["errorMessage"]
    req = urllib.request.Request("http://127.0.0.1:%d/v1/logs" % fluoro.ports["otlp_http"], data=b"{not json",
                                 headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400 and "ExportLogsServiceRequest" in json.load(info.value)["message"]


def test_put_log_events_lines_are_correlated_too(fluoro):
    """CloudWatch Logs API events carry a trace through JSON fields or their text (§8.5)."""
    logs = fluoro.client("logs")
    logs.create_log_group(logGroupName="/app/plain")
    logs.create_log_stream(logGroupName="/app/plain", logStreamName="s")
    xray = "1-6632301f-0123456789abcdef01234567"
    now = now_ms()
    logs.put_log_events(logGroupName="/app/plain", logStreamName="s", logEvents=[
        {"timestamp": now, "message": json.dumps({"msg": "json", "traceId": "6632301f0123456789abcdef01234567"})},
        {"timestamp": now + 1, "message": "X-Amzn-Trace-Id: Root=%s;Parent=53995c3f42cd8ad8;Sampled=1" % xray},
        {"timestamp": now + 2, "message": "unrelated"},
    ])
    answer = get_json(fluoro.endpoint + "/api/v1/traces/%s/logs" % xray)
    assert [e["message"][:6] for e in answer["events"]] == ['{"msg"', "X-Amzn"]
    assert answer["events"][1]["spanId"] == "53995c3f42cd8ad8"
