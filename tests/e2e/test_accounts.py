"""Accounts are isolated tenants: with two accounts, each one's keys see its own log groups,
events, Insights results, metrics, alarms, metric filters, traces, service graph, sampling
rules and X-Ray groups, and never the other's, through the AWS APIs (boto3 and the aws CLI),
OTLP (the OpenTelemetry SDK's exporters with a bearer or basic key), the native API and SQL,
and the X-Ray daemon port; and each keeps its data across a restart."""

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import grpc
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import now_ms, sampled_recorder, wait_until

ALPHA = ("AKIDALPHA", "alpha-secret", "000000000000")  # the default account
BETA = ("AKIDBETA", "beta/secret+1", "111111111111")
BETA2 = ("AKIDBETATWO", "beta-two", "111111111111")  # a second key of the same account
ACCOUNT_ARGS = ["--access-key", f"{ALPHA[0]}:{ALPHA[1]}",
                "--access-key", f"{BETA[2]}/{BETA[0]}:{BETA[1]}",
                "--access-key", f"{BETA2[2]}/{BETA2[0]}:{BETA2[1]}"]


@pytest.fixture
def two(make_fluoro):
    return make_fluoro(extra_args=ACCOUNT_ARGS).start()


def client(f, service, who):
    # No host prefix: StartLiveTail would otherwise go to stream-127.0.0.1.
    return boto3.client(service, endpoint_url=f.endpoint, region_name="us-east-1", aws_access_key_id=who[0],
                        aws_secret_access_key=who[1],
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}, inject_host_prefix=False))


def error_code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def write_logs(logs, group, messages):
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now_ms(), "message": m} for m in messages])


def insights(logs, groups, query="fields @message | sort @timestamp asc"):
    now = int(time.time())
    query_id = logs.start_query(logGroupNames=groups, startTime=now - 600, endTime=now + 60,
                                queryString=query)["queryId"]
    result = wait_until(lambda: (lambda r: r if r["status"] == "Complete" else None)(
        logs.get_query_results(queryId=query_id)), timeout=20)
    assert result, "the query did not complete"
    return [{f["field"]: f["value"] for f in row} for row in result["results"]]


def test_log_groups_events_and_queries_are_isolated(two):
    f = two
    a, b, b2 = client(f, "logs", ALPHA), client(f, "logs", BETA), client(f, "logs", BETA2)
    write_logs(a, "/iso/alpha", ["alpha only"])
    write_logs(b, "/iso/beta", ["beta only"])
    # The same name in both accounts: two different groups.
    write_logs(a, "/iso/shared", ["shared in alpha"])
    write_logs(b, "/iso/shared", ["shared in beta"])
    a.put_metric_filter(logGroupName="/iso/alpha", filterName="alpha-filter", filterPattern="alpha",
                        metricTransformations=[{"metricName": "AlphaHits", "metricNamespace": "Iso",
                                                "metricValue": "1"}])

    def groups(logs):
        return {g["logGroupName"]: g["arn"] for g in logs.describe_log_groups(logGroupNamePrefix="/iso/")["logGroups"]}

    assert set(groups(a)) == {"/iso/alpha", "/iso/shared"}
    assert set(groups(b)) == set(groups(b2)) == {"/iso/beta", "/iso/shared"}
    assert ":000000000000:" in groups(a)["/iso/shared"] and ":111111111111:" in groups(b)["/iso/shared"]

    def messages(logs, group):
        return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]

    assert messages(a, "/iso/shared") == ["shared in alpha"]
    assert messages(b2, "/iso/shared") == ["shared in beta"]
    for call in (lambda: b.filter_log_events(logGroupName="/iso/alpha"),
                 lambda: b.get_log_events(logGroupName="/iso/alpha", logStreamName="s"),
                 lambda: b.describe_log_streams(logGroupName="/iso/alpha"),
                 lambda: b.put_log_events(logGroupName="/iso/alpha", logStreamName="s",
                                          logEvents=[{"timestamp": now_ms(), "message": "intruder"}]),
                 lambda: b.delete_log_group(logGroupName="/iso/alpha"),
                 lambda: b.put_retention_policy(logGroupName="/iso/alpha", retentionInDays=1)):
        assert error_code(call) == "ResourceNotFoundException"
    assert b.describe_metric_filters()["metricFilters"] == []
    assert [m["filterName"] for m in a.describe_metric_filters()["metricFilters"]] == ["alpha-filter"]

    # Insights: each account's query sees its own events; naming the other's group fails.
    assert [r["@message"] for r in insights(b, ["/iso/beta", "/iso/shared"])] == ["beta only", "shared in beta"]
    assert [r["@message"] for r in insights(a, ["/iso/shared"])] == ["shared in alpha"]
    assert error_code(lambda: insights(b, ["/iso/alpha"])) in ("ResourceNotFoundException",
                                                               "MalformedQueryException")
    # A query id is the account's own: the other account cannot read its results.
    now = int(time.time())
    query_id = a.start_query(logGroupNames=["/iso/alpha"], startTime=now - 600, endTime=now + 60,
                             queryString="fields @message")["queryId"]
    assert error_code(lambda: b.get_query_results(queryId=query_id)) == "ResourceNotFoundException"

    # An ARN naming the other account is not found, even where this account has a group of
    # that name: live tail and Insights alike.
    alpha_shared = groups(a)["/iso/shared"].removesuffix(":*")
    assert error_code(lambda: b.start_live_tail(logGroupIdentifiers=[alpha_shared])) == "ResourceNotFoundException"
    assert error_code(lambda: b.start_query(logGroupIdentifiers=[alpha_shared], startTime=now - 600,
                                            endTime=now + 60, queryString="fields @message")) \
        == "ResourceNotFoundException"
    status, _, _ = f.request("GET", "/api/v1/logs/tail?logGroupName=/iso/alpha", None,
                             {"Authorization": f"Bearer {BETA[0]}:{BETA[1]}"})
    assert status in (400, 404)

    # The aws CLI with the second account's key.
    env = dict(os.environ, AWS_ACCESS_KEY_ID=BETA[0], AWS_SECRET_ACCESS_KEY=BETA[1], AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run(["aws", "--endpoint-url", f.endpoint, "--output", "json", "logs", "describe-log-groups"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert {g["logGroupName"] for g in json.loads(out.stdout)["logGroups"]} == {"/iso/beta", "/iso/shared"}


def test_metrics_and_alarms_are_isolated(two):
    f = two
    a, b = client(f, "cloudwatch", ALPHA), client(f, "cloudwatch", BETA)
    a.put_metric_data(Namespace="Iso", MetricData=[{"MetricName": "Load", "Value": 7,
                                                    "Dimensions": [{"Name": "Host", "Value": "alpha-1"}]}])
    b.put_metric_data(Namespace="Iso", MetricData=[{"MetricName": "Load", "Value": 3,
                                                    "Dimensions": [{"Name": "Host", "Value": "beta-1"}]}])

    def hosts(cw):
        return {m["Dimensions"][0]["Value"] for m in cw.list_metrics(Namespace="Iso")["Metrics"]}

    assert hosts(a) == {"alpha-1"} and hosts(b) == {"beta-1"}
    now = time.time()
    query = [{"Id": "q", "MetricStat": {"Metric": {"Namespace": "Iso", "MetricName": "Load",
                                                   "Dimensions": [{"Name": "Host", "Value": "alpha-1"}]},
                                        "Period": 60, "Stat": "Sum"}}]
    assert a.get_metric_data(MetricDataQueries=query, StartTime=now - 600, EndTime=now + 60)["MetricDataResults"][0][
        "Values"] == [7.0]
    assert b.get_metric_data(MetricDataQueries=query, StartTime=now - 600, EndTime=now + 60)["MetricDataResults"][0][
        "Values"] == []

    alarm = dict(AlarmName="iso-alarm", Namespace="Iso", MetricName="Load", Statistic="Sum", Period=60,
                 EvaluationPeriods=1, ComparisonOperator="GreaterThanThreshold")
    a.put_metric_alarm(Threshold=5, **alarm)
    assert b.describe_alarms()["MetricAlarms"] == []
    assert error_code(lambda: b.set_alarm_state(AlarmName="iso-alarm", StateValue="ALARM",
                                                StateReason="intruder")) == "ResourceNotFound"
    # The same name in the other account is another alarm.
    b.put_metric_alarm(Threshold=99, **alarm)
    mine = a.describe_alarms(AlarmNames=["iso-alarm"])["MetricAlarms"][0]
    theirs = b.describe_alarms(AlarmNames=["iso-alarm"])["MetricAlarms"][0]
    assert (mine["Threshold"], theirs["Threshold"]) == (5.0, 99.0)
    assert ":000000000000:" in mine["AlarmArn"] and ":111111111111:" in theirs["AlarmArn"]
    b.delete_alarms(AlarmNames=["iso-alarm"])
    assert [x["AlarmName"] for x in a.describe_alarms()["MetricAlarms"]] == ["iso-alarm"]


def segment(service, trace_id, seg_id, start, **extra):
    return json.dumps({"name": service, "id": seg_id, "trace_id": trace_id, "start_time": start,
                       "end_time": start + 0.05, **extra})


def trace_id_at(start, n):
    return "1-%08x-%024x" % (int(start), n)


def test_traces_sampling_rules_and_groups_are_isolated(two):
    f = two
    a, b = client(f, "xray", ALPHA), client(f, "xray", BETA)
    start = time.time()
    ta, tb = trace_id_at(start, 0xA), trace_id_at(start, 0xB)
    a.put_trace_segments(TraceSegmentDocuments=[segment("alpha-svc", ta, "a000000000000001", start)])
    b.put_trace_segments(TraceSegmentDocuments=[segment("beta-svc", tb, "b000000000000001", start)])
    window = {"StartTime": start - 300, "EndTime": start + 60}

    def summaries(xray):
        return {s["Id"] for s in xray.get_trace_summaries(**window)["TraceSummaries"]}

    assert wait_until(lambda: summaries(a) == {ta} and summaries(b) == {tb}, timeout=10)
    got = b.batch_get_traces(TraceIds=[ta, tb])
    assert [t["Id"] for t in got["Traces"]] == [tb]
    assert {s["Name"] for s in b.get_service_graph(**window)["Services"]} == {"beta-svc"}
    assert {s["Name"] for s in a.get_service_graph(**window)["Services"]} == {"alpha-svc"}
    assert b.get_trace_graph(TraceIds=[ta])["Services"] == []

    a.create_sampling_rule(SamplingRule=dict(
        RuleName="alpha-rule", ResourceARN="*", Priority=1, FixedRate=1.0, ReservoirSize=0, ServiceName="alpha-svc",
        ServiceType="*", Host="*", HTTPMethod="*", URLPath="*", Version=1))
    a.create_group(GroupName="alpha-group", FilterExpression='service("alpha-svc")')

    def rules(xray):
        return {r["SamplingRule"]["RuleName"] for r in xray.get_sampling_rules()["SamplingRuleRecords"]}

    assert rules(a) == {"Default", "alpha-rule"} and rules(b) == {"Default"}
    assert "alpha-group" not in {g["GroupName"] for g in b.get_groups()["Groups"]}
    assert error_code(lambda: b.delete_sampling_rule(RuleName="alpha-rule")) in ("InvalidRequestException",
                                                                               "ResourceNotFoundException")
    assert rules(a) == {"Default", "alpha-rule"}


def daemon_post(f, path, body, signer=None):
    url = f"http://127.0.0.1:{f.ports['xray']}{path}"
    request = AWSRequest(method="POST", url=url, data=json.dumps(body), headers={"Content-Type": "application/json"})
    if signer:
        SigV4Auth(Credentials(signer[0], signer[1]), "xray", "us-east-1").add_auth(request)
    r = urllib.request.Request(url, data=request.body.encode() if isinstance(request.body, str) else request.body,
                               headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, {"type": e.headers.get("x-amzn-errortype"), "body": e.read().decode()}


def test_the_daemon_port_is_the_default_accounts(two):
    """The X-Ray SDK samples through the daemon's TCP port and sends segments over UDP, both
    without credentials: they are the default account's. Reads on that port need a signature."""
    f = two
    a, b = client(f, "xray", ALPHA), client(f, "xray", BETA)
    recorder = sampled_recorder(f, a, "daemon-app")  # the rule is the default account's
    seg = recorder.begin_segment("daemon-app")
    assert seg.sampled is True  # the default account's rule, read through the daemon port
    trace_id = seg.trace_id
    recorder.end_segment()
    assert wait_until(lambda: a.batch_get_traces(TraceIds=[trace_id])["Traces"], timeout=10)
    assert b.batch_get_traces(TraceIds=[trace_id])["Traces"] == []

    # Unsigned reads on the daemon port are refused; signed ones act in the signer's account.
    now = time.time()
    window = {"StartTime": now - 300, "EndTime": now + 60}
    status, body = daemon_post(f, "/TraceSummaries", window)
    assert (status, body["type"]) == (403, "MissingAuthenticationTokenException")
    status, body = daemon_post(f, "/TraceSummaries", window, signer=BETA)
    assert status == 200 and body["TraceSummaries"] == []
    status, body = daemon_post(f, "/TraceSummaries", window, signer=ALPHA)
    assert status == 200 and trace_id in [s["Id"] for s in body["TraceSummaries"]]
    status, body = daemon_post(f, "/TraceSummaries", window, signer=("AKIDALPHA", "wrong"))
    assert (status, body["type"]) == (403, "InvalidSignatureException")


def otel_provider(service, exporter):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_otlp_acts_in_the_keys_account(two):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    f = two
    basic = "Basic " + base64.b64encode(f"{ALPHA[0]}:{ALPHA[1]}".encode()).decode()
    exporters = {
        # The OTel SDKs' `headers` setting (OTEL_EXPORTER_OTLP_HEADERS) carries the key.
        "otlp-beta-http": HttpExporter(endpoint=f"http://127.0.0.1:{f.ports['otlp_http']}/v1/traces",
                                       headers={"authorization": f"Bearer {BETA[0]}:{BETA[1]}"}),
        "otlp-beta-grpc": GrpcExporter(endpoint=f"127.0.0.1:{f.ports['otlp_grpc']}", insecure=True,
                                       headers=(("authorization", f"Bearer {BETA2[0]}:{BETA2[1]}"),)),
        "otlp-alpha-grpc": GrpcExporter(endpoint=f"127.0.0.1:{f.ports['otlp_grpc']}", insecure=True,
                                        headers=(("authorization", basic),)),
        # OTLP/HTTP on the main port, too.
        "otlp-alpha-main": HttpExporter(endpoint=f"{f.endpoint}/v1/traces", headers={"authorization": basic}),
    }
    for service, exporter in exporters.items():
        provider = otel_provider(service, exporter)
        with provider.get_tracer("accounts-test").start_as_current_span("work"):
            pass
        provider.shutdown()

    def services(who):
        now = time.time()
        summaries = client(f, "xray", who).get_trace_summaries(StartTime=now - 300, EndTime=now + 60)["TraceSummaries"]
        return {s["EntryPoint"]["Name"] for s in summaries if s.get("EntryPoint")}

    assert wait_until(lambda: services(BETA) == {"otlp-beta-http", "otlp-beta-grpc"}, timeout=15), services(BETA)
    assert wait_until(lambda: services(ALPHA) == {"otlp-alpha-grpc", "otlp-alpha-main"}, timeout=15), services(ALPHA)

    # OTLP logs and metrics (JSON over HTTP) land in the key's account too.
    now_ns = time.time_ns()
    log_body = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "otlp-logs-beta"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": str(now_ns), "body": {"stringValue": "beta via otlp"}}]}]}]}
    metric_body = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "otlp-metrics-beta"}}]},
        "scopeMetrics": [{"metrics": [{"name": "beta.gauge", "gauge": {"dataPoints": [
            {"timeUnixNano": str(now_ns), "asDouble": 1.5}]}}]}]}]}
    bearer = {"authorization": f"Bearer {BETA[0]}:{BETA[1]}", "content-type": "application/json"}
    for path, body in (("/v1/logs", log_body), ("/v1/metrics", metric_body)):
        request = urllib.request.Request(f"http://127.0.0.1:{f.ports['otlp_http']}{path}",
                                         data=json.dumps(body).encode(), headers=bearer, method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
    b_logs, a_logs = client(f, "logs", BETA), client(f, "logs", ALPHA)
    beta_groups = {g["logGroupName"] for g in b_logs.describe_log_groups()["logGroups"]}
    assert any("otlp-logs-beta" in g for g in beta_groups), beta_groups
    assert not any("otlp-logs-beta" in g["logGroupName"] for g in a_logs.describe_log_groups()["logGroups"])
    b_cw, a_cw = client(f, "cloudwatch", BETA), client(f, "cloudwatch", ALPHA)
    assert any(m["MetricName"] == "beta.gauge" for m in b_cw.list_metrics()["Metrics"])
    assert not any(m["MetricName"] == "beta.gauge" for m in a_cw.list_metrics()["Metrics"])


def test_otlp_without_a_valid_key_is_refused(two):
    f = two
    url = f"http://127.0.0.1:{f.ports['otlp_http']}/v1/traces"
    for headers in ({}, {"authorization": f"Bearer {BETA[0]}:wrong"}, {"authorization": "Bearer AKIDNOBODY:x"},
                    {"authorization": "Basic !!!"}):
        request = urllib.request.Request(url, data=b"{}", headers={"content-type": "application/json", **headers},
                                         method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=10)
        assert e.value.code == 401
        assert json.loads(e.value.read())["code"] == 16  # UNAUTHENTICATED, in a google.rpc.Status
    with grpc.insecure_channel(f"127.0.0.1:{f.ports['otlp_grpc']}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as e:
            export(b"", timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            export(b"", timeout=10, metadata=(("authorization", f"Bearer {ALPHA[0]}:wrong"),))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # With a key, the same call is served.
        assert export(b"", timeout=10, metadata=(("authorization", f"Bearer {ALPHA[0]}:{ALPHA[1]}"),)) == b""
    metrics = urllib.request.urlopen(f.endpoint + "/metrics").read().decode()
    assert 'fluoro_auth_failures_total{reason="missing_token"}' in metrics
    assert 'fluoro_auth_failures_total{reason="invalid_token"}' in metrics


def sign_in(f, who):
    status, _, body = f.request("POST", "/api/v1/login", {"accessKeyId": who[0], "secretAccessKey": who[1]})
    assert status == 200
    answer = json.loads(body)
    assert answer["accountId"] == who[2]
    return {"Authorization": f"Bearer {answer['token']}"}


def test_the_native_api_and_sql_are_the_sessions_account(two):
    f = two
    a_logs, b_logs = client(f, "logs", ALPHA), client(f, "logs", BETA)
    write_logs(a_logs, "/native/alpha", ["a1", "a2", "a3"])
    write_logs(b_logs, "/native/beta", ["b1"])
    start = time.time()
    tb = trace_id_at(start, 0xBE)
    client(f, "xray", BETA).put_trace_segments(TraceSegmentDocuments=[segment("native-beta", tb, "be00000000000001",
                                                                              start)])
    client(f, "cloudwatch", ALPHA).put_metric_data(Namespace="NativeAlpha", MetricData=[{"MetricName": "m", "Value": 1}])
    client(f, "cloudwatch", ALPHA).put_metric_alarm(
        AlarmName="native-alpha-alarm", Namespace="NativeAlpha", MetricName="m", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")

    for who, group, count, namespaces, alarms in (
            (ALPHA, "/native/alpha", 3, {"NativeAlpha"}, ["native-alpha-alarm"]),
            (BETA, "/native/beta", 1, set(), [])):
        session = sign_in(f, who)
        # The key itself works as a bearer credential too.
        key = {"Authorization": f"Bearer {who[0]}:{who[1]}"}
        for headers in (session, key):
            status, _, body = f.request("POST", "/api/v1/logs/DescribeLogGroups", {}, headers)
            assert status == 200
            assert [g["logGroupName"] for g in json.loads(body)["logGroups"]] == [group]
            status, _, body = f.request("POST", "/api/v1/sql", {"query": "SELECT count(*) AS n FROM logs"}, headers)
            assert status == 200, body
            assert json.loads(body)["rows"][0]["n"] == count
        status, _, body = f.request("GET", "/api/v1/metrics/namespaces", None, session)
        assert {n["name"] for n in json.loads(body)["namespaces"]} == namespaces
        status, _, body = f.request("GET", "/api/v1/alarms", None, session)
        assert [x["name"] for x in json.loads(body)["alarms"]] == alarms
        status, _, body = f.request("POST", "/api/v1/xray/GetTraceSummaries",
                                    {"StartTime": start - 300, "EndTime": start + 60}, session)
        assert status == 200
        ids = [s["Id"] for s in json.loads(body)["TraceSummaries"]]
        assert ids == ([tb] if who is BETA else [])
        # The other account's group is not there for this session.
        other = "/native/beta" if who is ALPHA else "/native/alpha"
        status, _, body = f.request("POST", "/api/v1/logs/FilterLogEvents", {"logGroupName": other}, session)
        assert status == 400 and "ResourceNotFound" in body.decode()
        status, _, body = f.request("GET", "/api/v1/session", None, session)
        assert json.loads(body)["accountId"] == who[2]
    assert f.request("POST", "/api/v1/logs/DescribeLogGroups", {}, {"Authorization": "Bearer AKIDBETA:no"})[0] == 401


def test_each_account_keeps_its_data_across_a_restart(two):
    f = two
    write_logs(client(f, "logs", ALPHA), "/kept/alpha", ["alpha kept"])
    write_logs(client(f, "logs", BETA), "/kept/beta", ["beta kept"])
    assert f.stop() == 0
    assert os.path.isdir(os.path.join(f.data_dir, "accounts", "111111111111", "wal"))
    f.start()
    for who, group, message in ((ALPHA, "/kept/alpha", "alpha kept"), (BETA, "/kept/beta", "beta kept")):
        logs = client(f, "logs", who)
        assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [group]
        assert [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]] == [message]
    # Each account's store reports its own buffer.
    metrics = urllib.request.urlopen(f.endpoint + "/metrics").read().decode()
    assert 'fluoro_buffer_bytes{account="111111111111"}' in metrics
    assert 'fluoro_buffer_bytes{account="000000000000"}' in metrics
