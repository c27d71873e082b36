"""OTLP metrics end to end: the OpenTelemetry Python SDK exports a counter, a histogram, an
up-down counter and a gauge over gRPC and HTTP; boto3 reads them back as CloudWatch metrics."""

import datetime as dt
import json
import time
import urllib.error
import urllib.request

import pytest
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource


def exporter(fluoro, transport):
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        return OTLPMetricExporter(endpoint="127.0.0.1:%d" % fluoro.ports["otlp_grpc"], insecure=True)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter(endpoint="http://127.0.0.1:%d/v1/metrics" % fluoro.ports["otlp_http"])


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_metrics_become_cloudwatch_metrics(fluoro, transport):
    service = "shop-" + transport
    reader = PeriodicExportingMetricReader(exporter(fluoro, transport), export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader])
    meter = provider.get_meter("e2e")
    start = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    requests = meter.create_counter("http.server.requests", unit="{request}")
    latency = meter.create_histogram("http.server.duration", unit="ms")
    inflight = meter.create_up_down_counter("http.server.active_requests", unit="{request}")
    meter.create_observable_gauge("queue.depth", callbacks=[lambda options: [Observation(42, {"queue": "orders"})]])
    requests.add(5, {"route": "/cart"})
    for v in (3, 40, 400):
        latency.record(v, {"route": "/cart"})
    inflight.add(2)
    assert provider.force_flush()
    requests.add(3, {"route": "/cart"})
    inflight.add(-1)
    assert provider.force_flush()
    provider.shutdown()

    cw = fluoro.client("cloudwatch")
    ns = "otel/" + service
    listed = {(m["MetricName"], json.dumps(m["Dimensions"])) for m in cw.list_metrics(Namespace=ns)["Metrics"]}
    assert ("http.server.requests", json.dumps([{"Name": "route", "Value": "/cart"}])) in listed
    assert ("queue.depth", json.dumps([{"Name": "queue", "Value": "orders"}])) in listed
    end = start + dt.timedelta(minutes=2)

    def stats(name, dims, **kw):
        out = cw.get_metric_statistics(Namespace=ns, MetricName=name, Dimensions=dims, StartTime=start, EndTime=end,
                                       Period=120, **kw)
        return out["Datapoints"]

    route = [{"Name": "route", "Value": "/cart"}]
    # The cumulative counter becomes increases: 5 (a fresh counter), then 3.
    points = stats("http.server.requests", route, Statistics=["Sum"])
    assert [(p["Sum"], p["Unit"]) for p in points] == [(8.0, "Count")]
    points = stats("http.server.duration", route, Statistics=["SampleCount", "Minimum", "Maximum"])
    assert [(p["SampleCount"], p["Minimum"], p["Maximum"], p["Unit"]) for p in points] == [(3.0, 3.0, 400.0, "Milliseconds")]
    points = stats("http.server.duration", route, ExtendedStatistics=["p50"])
    assert 25.0 <= points[0]["ExtendedStatistics"]["p50"] <= 50.0  # the bucket (25, 50]
    # A non-monotonic sum is a level; the gauge its value.
    points = stats("http.server.active_requests", [], Statistics=["Minimum", "Maximum"])
    assert [(p["Minimum"], p["Maximum"]) for p in points] == [(1.0, 2.0)]
    assert [p["Maximum"] for p in stats("queue.depth", [{"Name": "queue", "Value": "orders"}], Statistics=["Maximum"])] == [42.0]


def test_otlp_json_and_partial_success(fluoro):
    now_ns = time.time_ns()
    body = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "aws.cloudwatch.namespace", "value": {"stringValue": "Custom"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "temperature", "unit": "1", "gauge": {"dataPoints": [
                {"timeUnixNano": str(now_ns), "asDouble": 21.5, "attributes": [{"key": "room", "value": {"stringValue": "a"}}]},
                {"timeUnixNano": str(now_ns - 20 * 86400 * 10**9), "asDouble": 1.0}]}}]}]}]}
    request = urllib.request.Request("http://127.0.0.1:%d/v1/metrics" % fluoro.ports["otlp_http"],
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        reply = json.loads(r.read())
    assert reply["partialSuccess"]["rejectedDataPoints"] == "1"
    assert "time window" in reply["partialSuccess"]["errorMessage"]
    cw = fluoro.client("cloudwatch")
    assert cw.list_metrics(Namespace="Custom")["Metrics"] == [
        {"Namespace": "Custom", "MetricName": "temperature", "Dimensions": [{"Name": "room", "Value": "a"}]}]
    bad = urllib.request.Request("http://127.0.0.1:%d/v1/metrics" % fluoro.ports["otlp_http"],
                                 data=b"{not json", headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(bad, timeout=10)
        raise AssertionError("accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400
