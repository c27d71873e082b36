"""SigV4 on the AWS APIs: with access keys configured, boto3, the aws CLI and presigned URLs
signed by a known key get through; a wrong secret, an unknown key, no signature, a tampered
body or a clock beyond 15 minutes get the protocol's own refusal, and the server keeps serving."""

import datetime
import json
import time
import urllib.error
import urllib.request
from unittest import mock

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import now_ms

KEY, SECRET = "AKIDFLUOROTEST", "s3cr3t/with+symbols"


@pytest.fixture
def locked(make_fluoro):
    return make_fluoro(extra_args=["--access-key", f"{KEY}:{SECRET}", "--access-key", "AKIDSECOND:other"]).start()


def client(f, service, key=KEY, secret=SECRET):
    return boto3.client(service, endpoint_url=f.endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_signed_requests_are_served(locked):
    f = locked
    logs = client(f, "logs")
    logs.create_log_group(logGroupName="/auth/app")
    logs.create_log_stream(logGroupName="/auth/app", logStreamName="s")
    logs.put_log_events(logGroupName="/auth/app", logStreamName="s",
                        logEvents=[{"timestamp": now_ms(), "message": "signed hello"}])
    assert [e["message"] for e in logs.get_log_events(logGroupName="/auth/app", logStreamName="s")["events"]] \
        == ["signed hello"]
    # The second key works too.
    assert client(f, "logs", "AKIDSECOND", "other").describe_log_groups()["logGroups"]

    cloudwatch = client(f, "cloudwatch")
    cloudwatch.put_metric_data(Namespace="Auth", MetricData=[{"MetricName": "m", "Value": 1}])
    assert cloudwatch.list_metrics(Namespace="Auth")["Metrics"]

    xray = client(f, "xray")
    start = time.time()
    doc = {"name": "svc", "id": "70de5b6f19ff9a0a", "trace_id": f"1-{int(start):08x}-{'b' * 24}",
           "start_time": start, "end_time": start + 0.1}
    assert xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])["UnprocessedTraceSegments"] == []

    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
    with mock.patch.dict("os.environ", env):
        import subprocess
        out = subprocess.run(["aws", "--endpoint-url", f.endpoint, "--region", "us-east-1", "--output", "json",
                              "logs", "describe-log-groups"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["logGroups"][0]["logGroupName"] == "/auth/app"


def test_presigned_query_requests(locked):
    f = locked
    client(f, "cloudwatch").put_metric_data(Namespace="Presigned", MetricData=[{"MetricName": "m", "Value": 1}])
    request = AWSRequest(method="GET", url=f"{f.endpoint}/",
                         params={"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": "Presigned"})
    SigV4QueryAuth(Credentials(KEY, SECRET), "monitoring", "us-east-1", expires=60).add_auth(request)
    with urllib.request.urlopen(request.url, timeout=10) as r:
        assert b"<MetricName>m</MetricName>" in r.read()
    # The same URL with the signature altered is refused.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request.url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10)
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()


def test_bad_credentials_get_the_protocols_refusal(locked):
    f = locked
    assert code(lambda: client(f, "logs", secret="wrong").describe_log_groups()) == ("InvalidSignatureException", 403)
    assert code(lambda: client(f, "logs", key="AKIDUNKNOWN").describe_log_groups()) == \
        ("UnrecognizedClientException", 403)
    assert code(lambda: client(f, "xray", secret="wrong").get_trace_summaries(
        StartTime=time.time() - 60, EndTime=time.time()))[0] == "InvalidSignatureException"
    assert code(lambda: client(f, "cloudwatch", secret="wrong").list_metrics()) == ("SignatureDoesNotMatch", 403)
    assert code(lambda: client(f, "cloudwatch", key="AKIDUNKNOWN").list_metrics()) == ("InvalidClientTokenId", 403)

    # A clock 20 minutes off.
    skewed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=skewed):
        error, status = code(lambda: client(f, "logs").describe_log_groups())
    assert (error, status) == ("InvalidSignatureException", 403)

    # No signature at all.
    unsigned = urllib.request.Request(f.endpoint + "/", data=b"{}", headers={
        "X-Amz-Target": "Logs_20140328.DescribeLogGroups", "Content-Type": "application/x-amz-json-1.1"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(unsigned, timeout=10)
    assert e.value.code == 403
    assert json.loads(e.value.read())["__type"] == "MissingAuthenticationTokenException"

    # A body changed after signing.
    request = AWSRequest(method="POST", url=f.endpoint + "/", data=b'{"logGroupNamePrefix":"/auth"}', headers={
        "X-Amz-Target": "Logs_20140328.DescribeLogGroups", "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(KEY, SECRET), "logs", "us-east-1").add_auth(request)
    tampered = urllib.request.Request(f.endpoint + "/", data=b'{"logGroupNamePrefix":"/"}', headers=dict(request.headers))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=10)
    assert json.loads(e.value.read())["__type"] == "InvalidSignatureException"
    # The untampered request goes through.
    good = urllib.request.Request(f.endpoint + "/", data=request.body, headers=dict(request.headers))
    with urllib.request.urlopen(good, timeout=10) as r:
        assert r.status == 200

    metrics = urllib.request.urlopen(f.endpoint + "/metrics").read().decode()
    assert 'fluoro_auth_failures_total{reason="invalid_signature"}' in metrics
    assert 'fluoro_auth_failures_total{reason="missing"}' in metrics


def test_without_keys_nothing_is_checked(fluoro):
    assert client(fluoro, "logs", key="anything", secret="anything").describe_log_groups()["logGroups"] == []


def native(f, method, path, body=None, headers=None):
    return f.request(method, path, body, headers)


def test_native_api_needs_a_session(locked):
    f = locked
    describe = ("POST", "/api/v1/logs/DescribeLogGroups", {})
    status, _, body = native(f, *describe)
    assert status == 401 and json.loads(body)["code"] == "Unauthorized"
    assert native(f, "GET", "/api/v1/logs/tail?logGroupName=/x")[0] == 401
    assert json.loads(native(f, "GET", "/api/v1/session")[2]) == \
        {"authRequired": True, "authenticated": False, "accountId": None}
    # The UI's page itself loads (it shows the sign-in form).
    assert native(f, "GET", "/")[0] == 200

    status, _, _ = native(f, "POST", "/api/v1/login", {"accessKeyId": KEY, "secretAccessKey": "wrong"})
    assert status == 401
    status, headers, body = native(f, "POST", "/api/v1/login", {"accessKeyId": KEY, "secretAccessKey": SECRET})
    assert status == 200
    token = json.loads(body)["token"]
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]

    assert native(f, *describe, headers={"Cookie": session})[0] == 200
    assert native(f, *describe, headers={"Authorization": f"Bearer {token}"})[0] == 200
    assert json.loads(native(f, "GET", "/api/v1/session", headers={"Cookie": session})[2])["authenticated"] is True
    assert native(f, *describe, headers={"Authorization": "Bearer not-a-session"})[0] == 401

    assert native(f, "POST", "/api/v1/logout", headers={"Cookie": session})[0] == 204
    assert native(f, *describe, headers={"Cookie": session})[0] == 401


def test_without_keys_the_native_api_is_open(fluoro):
    assert native(fluoro, "POST", "/api/v1/logs/DescribeLogGroups", {})[0] == 200
    assert json.loads(native(fluoro, "GET", "/api/v1/session")[2]) == \
        {"authRequired": False, "authenticated": True, "accountId": "000000000000"}
