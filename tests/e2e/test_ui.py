"""The web UI in headless Chromium (Debian's package, driven by Playwright) against a real fluoro
fed by boto3 and the aws-xray-sdk: each view loads, an Insights query renders rows and a chart,
a trace opens as a waterfall with its logs, the service map shows the expected nodes and edges,
live tail shows a new event, an alarm turns ALARM in the list. A screenshot of each view is saved
under $FLUORO_ARTIFACTS/ui (default tests/e2e/artifacts/ui)."""

import json
import os
import random
import shutil
import time
import urllib.error
import urllib.request

import boto3
import pytest

from conftest import Fluoro, now_ms, wait_until

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = os.path.join(os.environ.get("FLUORO_ARTIFACTS", os.path.join(os.path.dirname(__file__), "artifacts")), "ui")
GROUP = "/ui/checkout"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ui") / "data"
    os.makedirs(data)
    f = Fluoro(data).start()
    yield f
    f.kill()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (tests/run.sh installs Debian's chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server.endpoint)
    context.set_default_timeout(TIMEOUT_MS)
    p = context.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    # The page must never reach beyond fluoro.
    outside = []
    p.on("request", lambda r: r.url.startswith(server.endpoint) or r.url.startswith("data:") or outside.append(r.url))
    yield p
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
    assert not outside, f"the page requested resources from elsewhere: {outside}"


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)


def trace_id():
    return "1-%08x-%024x" % (int(time.time()), random.getrandbits(96))


def seg_id():
    return "%016x" % random.getrandbits(64)


@pytest.fixture(scope="module")
def fed(server):
    """Logs with a metric filter, traces from PutTraceSegments and the X-Ray SDK, metrics, an
    alarm: everything through the real clients."""
    logs, xray, cw = server.client("logs"), server.client("xray"), server.client("cloudwatch")
    logs.create_log_group(logGroupName=GROUP)
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=30)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="web-1")
    logs.create_log_stream(logGroupName=GROUP, logStreamName="web-2")
    logs.put_metric_filter(
        logGroupName=GROUP, filterName="errors", filterPattern='{ $.level = "error" }',
        metricTransformations=[{"metricName": "Errors", "metricNamespace": "Checkout", "metricValue": "1"}])

    # Five checkout traces: frontend calls backend; the last one faults in the backend.
    now = time.time()
    traces = []
    for i in range(5):
        tid, front, call, back = trace_id(), seg_id(), seg_id(), seg_id()
        t0 = now - 300 + i * 30
        fault = i == 4
        frontend = {
            "trace_id": tid, "id": front, "name": "frontend", "origin": "AWS::EC2::Instance",
            "start_time": t0, "end_time": t0 + 0.35, "fault": fault,
            "http": {"request": {"method": "POST", "url": "https://shop.example/checkout"},
                     "response": {"status": 500 if fault else 200}},
            "annotations": {"customer": f"c-{i}"},
            "metadata": {"default": {"cart": {"items": i + 1}}},
            "subsegments": [{
                "id": call, "name": "backend", "namespace": "remote", "start_time": t0 + 0.05, "end_time": t0 + 0.3,
                "fault": fault, "http": {"request": {"method": "GET", "url": "http://backend/api/price"},
                                         "response": {"status": 500 if fault else 200}},
            }],
        }
        backend = {
            "trace_id": tid, "id": back, "parent_id": call, "name": "backend",
            "start_time": t0 + 0.06, "end_time": t0 + 0.29, "fault": fault,
            "http": {"request": {"method": "GET", "url": "http://backend/api/price"},
                     "response": {"status": 500 if fault else 200}},
        }
        if fault:
            backend["cause"] = {"working_directory": "/srv", "exceptions": [
                {"id": seg_id(), "type": "TimeoutError", "message": "database timed out after 200 ms",
                 "stack": [{"path": "price.py", "line": 42, "label": "lookup"}]}]}
        out = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(frontend), json.dumps(backend)])
        assert out["UnprocessedTraceSegments"] == []
        traces.append(tid)

    # The X-Ray SDK over UDP: a service that writes to DynamoDB.
    from aws_xray_sdk.core.models import http as HTTP
    from aws_xray_sdk.core.recorder import AWSXRayRecorder

    recorder = AWSXRayRecorder()
    recorder.configure(daemon_address="127.0.0.1:%d" % server.ports["xray"], sampling=False,
                       context_missing="LOG_ERROR", service="orders-api")
    segment = recorder.begin_segment("orders-api")
    segment.put_http_meta(HTTP.URL, "http://orders.local/orders")
    segment.put_http_meta(HTTP.METHOD, "POST")
    dynamo = recorder.begin_subsegment("DynamoDB", namespace="aws")
    dynamo.set_aws({"operation": "PutItem", "table_name": "orders", "region": "us-east-1"})
    dynamo.put_http_meta(HTTP.STATUS, 200)
    recorder.end_subsegment()
    segment.put_http_meta(HTTP.STATUS, 200)
    sdk_trace = segment.trace_id
    recorder.end_segment()
    assert wait_until(lambda: xray.batch_get_traces(TraceIds=[sdk_trace])["Traces"], timeout=10)

    # JSON request logs over the last ten minutes; those of the faulty trace carry its id.
    base = now_ms() - 600_000
    events = {"web-1": [], "web-2": []}
    for i in range(120):
        stream = "web-1" if i % 2 else "web-2"
        level = "error" if i % 17 == 0 else "info"
        message = {"level": level, "route": "/checkout", "latency_ms": 20 + (i * 7) % 180, "msg": f"request {i}"}
        events[stream].append({"timestamp": base + i * 5000, "message": json.dumps(message)})
    events["web-1"].append({"timestamp": int((now - 300 + 4 * 30) * 1000) + 100, "message": json.dumps(
        {"level": "error", "msg": "price lookup failed: database timed out", "xrayTraceId": traces[4]})})
    for stream, batch in events.items():
        batch.sort(key=lambda e: e["timestamp"])
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=batch)

    # A custom metric, and a high-resolution alarm on a queue that is still quiet.
    cw.put_metric_data(Namespace="Checkout", MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "frontend"}],
         "Timestamp": now - 60 * k, "Value": 100 + 10 * (k % 5), "Unit": "Milliseconds"} for k in range(30)])
    cw.put_metric_alarm(
        AlarmName="queue-backlog", Namespace="Checkout", MetricName="QueueDepth", Statistic="Maximum", Period=10,
        EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold",
        AlarmDescription="orders waiting in the queue")
    cw.put_metric_alarm(
        AlarmName="latency-high", Namespace="Checkout", MetricName="Latency",
        Dimensions=[{"Name": "Service", "Value": "frontend"}], Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=135, ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
    return {"traces": traces, "sdk_trace": sdk_trace, "cw": cw, "logs": logs}


def test_empty_states_say_what_to_send(page, server):
    """A fresh fluoro: every view loads and says how to point the clients at it."""
    for path, text, name in [
        ("/#/", "Point your clients at fluoro", "overview-empty"),
        ("/#/logs", "No log groups yet", "logs-empty"),
        ("/#/traces", "No traces in this time range", "traces-empty"),
        ("/#/map", "No services in this time range", "map-empty"),
        ("/#/metrics", "No metrics yet", "metrics-empty"),
        ("/#/alarms", "No alarms yet", "alarms-empty"),
    ]:
        page.goto(path)
        page.get_by_text(text).first.wait_for()
        assert server.endpoint in page.content() or path in ("/#/map",), f"{path} should show the endpoint"
        shot(page, name)
    # Errors are shown, not swallowed.
    page.goto("/#/logs/group?name=/does/not/exist")
    page.locator(".error").first.wait_for()
    assert "does not exist" in page.locator(".error").first.inner_text()
    page.goto("/#/nowhere")
    page.get_by_text("There is no view at").wait_for()


def test_the_page_is_embedded_and_self_contained(server):
    with urllib.request.urlopen(server.endpoint + "/") as r:
        assert r.headers["Content-Type"].startswith("text/html")
        html = r.read().decode()
    scripts = [part for part in html.split('"') if part.startswith("/assets/")]
    assert scripts, html
    for asset in scripts:
        with urllib.request.urlopen(server.endpoint + asset) as r:
            assert r.status == 200
            assert "immutable" in r.headers["Cache-Control"]


def native(server, path, body):
    request = urllib.request.Request(server.endpoint + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_native_operations_answer_in_their_own_shape(server, fed):
    """The UI's native API: the AWS operations' JSON in and out, errors as {error, code}."""
    status, out = native(server, "/api/v1/logs/DescribeLogGroups", {"logGroupNamePrefix": "/ui/"})
    assert status == 200 and [g["logGroupName"] for g in out["logGroups"]] == [GROUP]
    status, out = native(server, "/api/v1/logs/DescribeLogStreams", {"logGroupName": "/nope"})
    assert status == 400 and out["code"] == "ResourceNotFoundException", out
    status, out = native(server, "/api/v1/logs/PutLogEvents", {})
    assert status == 404 and out["code"] == "UnknownOperation" and "DescribeLogGroups" in out["error"]
    status, out = native(server, "/api/v1/logs/FilterLogEvents", {"logGroupName": GROUP, "limit": 0})
    assert status == 400 and out["code"] == "InvalidParameterException", out
    status, out = native(server, "/api/v1/xray/BatchGetTraces", {"TraceIds": [fed["traces"][0]]})
    assert status == 200 and len(out["Traces"][0]["Segments"]) == 2
    status, out = native(server, "/api/v1/xray/GetTraceSummaries", {"StartTime": 10, "EndTime": 5})
    assert status == 400 and out["code"] == "InvalidRequestException", out
    status, out = native(server, "/api/v1/xray/PutTraceSegments", {})
    assert status == 404 and out["code"] == "UnknownOperation"


def test_log_groups_streams_and_events(page, fed):
    page.goto("/#/logs")
    row = page.locator("[data-testid=log-groups] tr", has_text=GROUP)
    row.wait_for()
    assert "30 days" in row.inner_text()
    assert "1" in row.locator("td").nth(3).inner_text()  # one metric filter
    shot(page, "log-groups")
    row.get_by_role("link", name=GROUP).click()
    page.locator("[data-testid=log-streams]").get_by_text("web-1").wait_for()
    assert "Checkout / Errors" in page.locator("[data-testid=metric-filters]").inner_text()
    shot(page, "log-group")
    page.get_by_role("link", name="View events").click()
    page.locator("[data-testid=events] tr", has_text="request 7").first.wait_for()
    shot(page, "log-events")
    # A filter pattern narrows the events and lands in the URL.
    page.get_by_label("Filter pattern").fill('{ $.level = "error" }')
    page.get_by_label("Filter pattern").press("Enter")
    page.wait_for_function("location.hash.includes('filter=')")
    page.locator("[data-testid=events] tr", has_text="price lookup failed").wait_for()
    wait_until(lambda: "request 7" not in page.locator("[data-testid=events]").inner_text(), timeout=5)
    assert "request 7" not in page.locator("[data-testid=events]").inner_text()
    assert "request 17" in page.locator("[data-testid=events]").inner_text()


def test_live_tail_shows_a_new_event(page, fed):
    page.goto(f"/#/logs/events?group={GROUP}&range=5m")
    page.get_by_test_id("live-tail").click()
    page.get_by_text("Live: new events appear").wait_for()
    fed["logs"].put_log_events(logGroupName=GROUP, logStreamName="web-2", logEvents=[
        {"timestamp": now_ms(), "message": "tail probe: order 9001 shipped"}])
    page.locator("[data-testid=tail]").get_by_text("tail probe: order 9001 shipped").wait_for()
    shot(page, "live-tail")


def test_insights_query_renders_rows_and_a_chart(page, fed):
    page.goto(f"/#/insights?groups={GROUP}&range=1h")
    editor = page.get_by_test_id("query-editor")
    editor.fill("stats count(*) as requests, avg(latency_ms) as latency by bin(1m)")
    editor.press("Control+Enter")
    page.locator("[data-testid=query-status]", has_text="Complete").wait_for()
    rows = page.locator("[data-testid=results] tbody tr")
    assert rows.count() >= 9, rows.count()
    header = page.locator("[data-testid=results] thead").inner_text()
    assert "requests" in header and "latency" in header
    page.locator("[data-testid=chart] canvas").first.wait_for()
    assert "records matched" in page.get_by_test_id("query-status").inner_text()
    shot(page, "insights")
    # Saved queries and the history.
    page.get_by_label("Saved query name").fill("requests per minute")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("[data-testid=saved-queries]").get_by_text("requests per minute").wait_for()
    page.get_by_role("tab", name="History").click()
    page.locator("[data-testid=history]").get_by_text("stats count(*) as requests").first.wait_for()
    # CSV export downloads what the table shows.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    text = open(download.value.path()).read()
    assert text.splitlines()[0].startswith("bin(1m),requests,latency"), text[:200]
    # The query survives a reload through the URL.
    page.reload()
    assert "bin(1m)" in page.get_by_test_id("query-editor").input_value()


def test_trace_search_and_waterfall_with_logs(page, fed):
    faulty = fed["traces"][4]
    page.goto('/#/traces?filter=service("frontend")&range=1h')
    page.locator("[data-testid=trace-list] tbody tr").nth(4).wait_for()
    assert page.locator("[data-testid=trace-list] tbody tr").count() == 5
    shot(page, "traces")
    page.get_by_role("link", name=faulty).click()
    page.locator("[data-testid=waterfall]").wait_for()
    rows = page.locator("[data-testid=wf-row]")
    names = [rows.nth(i).locator(".wf-name").inner_text() for i in range(rows.count())]
    assert len(names) == 3 and "frontend" in names[0] and "backend" in names[1] and "backend" in names[2], names
    assert "fault" in rows.nth(2).inner_text()
    rows.nth(2).click()
    detail = page.get_by_test_id("segment-detail")
    detail.get_by_text("database timed out after 200 ms").wait_for()
    assert "TimeoutError" in detail.inner_text() and "price.py:42" in detail.inner_text()
    page.locator("[data-testid=trace-logs]").get_by_text("price lookup failed").wait_for()
    shot(page, "trace")
    rows.nth(0).click()
    detail.get_by_text("customer").wait_for()
    assert "c-4" in detail.inner_text() and "https://shop.example/checkout" in detail.inner_text()


def test_service_map_nodes_edges_and_click_through(page, fed):
    page.goto("/#/map?range=1h")
    page.locator("[data-testid=service-map]").wait_for()
    for name in ["frontend", "backend", "orders-api", "orders"]:
        page.locator(f"[data-testid=map-node][data-name='{name}']").first.wait_for()
    edges = {(e.get_attribute("data-from"), e.get_attribute("data-to"))
             for e in page.locator("[data-testid=map-edge]").all()}
    assert ("frontend", "backend") in edges and ("orders-api", "orders") in edges, edges
    page.locator("[data-testid=map-node][data-name='backend']").first.click()
    page.get_by_test_id("node-detail").get_by_text("Faults (5xx)").wait_for()
    shot(page, "service-map")
    page.get_by_test_id("node-detail").get_by_role("link", name="View traces").click()
    page.wait_for_function("location.hash.startsWith('#/traces')")
    page.locator("[data-testid=trace-list] tbody tr").nth(4).wait_for()


def test_metrics_browser_and_chart(page, fed):
    page.goto("/#/metrics?range=1h")
    page.locator("[data-testid=namespaces]").get_by_role("button", name="Checkout").click()
    page.get_by_label("Chart Latency Service=frontend").check()
    page.locator("[data-testid=chart] canvas").first.wait_for()
    page.wait_for_function("location.hash.includes('series=')")
    shot(page, "metrics")
    # The chart's URL reproduces it.
    url = page.url
    page.goto("/#/")
    page.goto(url)
    page.locator("[data-testid=chart] canvas").first.wait_for()


def test_alarm_turns_alarm_in_the_list(page, fed):
    cw = fed["cw"]
    page.goto("/#/alarms")
    row = page.locator("[data-testid=alarm-list] tr[data-alarm=queue-backlog]")
    row.wait_for()
    assert row.get_attribute("data-state") != "ALARM"
    # The queue backs up: one datapoint a second until the list shows ALARM (it refreshes itself).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and row.get_attribute("data-state") != "ALARM":
        cw.put_metric_data(Namespace="Checkout", MetricData=[
            {"MetricName": "QueueDepth", "Value": 250, "StorageResolution": 1}])
        page.wait_for_timeout(1000)
    assert row.get_attribute("data-state") == "ALARM"
    assert "Threshold Crossed" in row.inner_text()
    shot(page, "alarms")
    page.get_by_role("link", name="latency-high").click()
    page.get_by_text("threshold > 135").or_(page.locator("[data-testid=chart] canvas")).first.wait_for()
    page.locator("[data-testid=chart] canvas").first.wait_for()
    page.locator("[data-testid=alarm-history] tbody tr").first.wait_for()
    shot(page, "alarm")


def test_keyboard_navigation(page, fed):
    page.goto("/#/")
    page.locator("[data-testid=overview]").get_by_text("log groups").wait_for()
    page.keyboard.press("g")
    page.keyboard.press("t")
    page.wait_for_function("location.hash.startsWith('#/traces')")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Filter expression"
    page.goto("/#/")
    page.locator("[data-testid=overview]").get_by_text("1 log groups").or_(
        page.locator("[data-testid=overview]").get_by_text("log groups")).first.wait_for()
    shot(page, "overview")


def test_sign_in_when_fluoro_has_access_keys(browser, tmp_path):
    """The sign-in form, a wrong secret, then each of two accounts: each sees its own log
    groups only, and signs out."""
    os.makedirs(tmp_path / "data")
    locked = Fluoro(tmp_path / "data", ["--access-key", "AKIDUI:ui-secret",
                                        "--access-key", "222222222222/AKIDUIOTHER:other-secret"]).start()
    try:
        for key, secret, group in (("AKIDUI", "ui-secret", "/ui/default-account"),
                                   ("AKIDUIOTHER", "other-secret", "/ui/other-account")):
            logs = boto3.client("logs", endpoint_url=locked.endpoint, region_name="us-east-1",
                                aws_access_key_id=key, aws_secret_access_key=secret)
            logs.create_log_group(logGroupName=group)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=locked.endpoint)
        context.set_default_timeout(TIMEOUT_MS)
        p = context.new_page()
        p.goto("/#/logs")
        p.get_by_role("button", name="Sign in").wait_for()
        shot(p, "sign-in")
        p.get_by_label("Access key ID").fill("AKIDUI")
        p.get_by_label("Secret access key").fill("wrong")
        p.get_by_role("button", name="Sign in").click()
        p.locator(".error").get_by_text("wrong secret").wait_for()
        p.get_by_label("Secret access key").fill("ui-secret")
        p.get_by_role("button", name="Sign in").click()
        # Signed in: the view the URL names, with its data from /api/: this account's only.
        p.get_by_role("link", name="Log groups").wait_for()
        p.get_by_role("heading", name="Log groups", exact=True).wait_for()
        p.get_by_role("link", name="/ui/default-account").wait_for()
        assert p.get_by_test_id("account-id").inner_text() == "000000000000"
        assert p.get_by_text("/ui/other-account").count() == 0
        p.get_by_role("button", name="Sign out").click()
        p.get_by_role("button", name="Sign in").wait_for()
        p.get_by_label("Access key ID").fill("AKIDUIOTHER")
        p.get_by_label("Secret access key").fill("other-secret")
        p.get_by_role("button", name="Sign in").click()
        p.get_by_role("link", name="/ui/other-account").wait_for()
        assert p.get_by_test_id("account-id").inner_text() == "222222222222"
        assert p.get_by_text("/ui/default-account").count() == 0
        shot(p, "signed-in-other-account")
        context.close()
    finally:
        locked.kill()
