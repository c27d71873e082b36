"""TLS on every port that speaks HTTP or gRPC: boto3, the aws CLI and the OpenTelemetry SDK's
gRPC and HTTP exporters reach fluoro over TLS when they trust its certificate, and nothing
reaches it in plain text or without trusting it."""

import json
import socket
import ssl
import subprocess
import time

import grpc
import pytest
import requests
from botocore.exceptions import SSLError

from conftest import now_ms, wait_until


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=fluoro test",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def secure(make_fluoro, certificate):
    cert, key = certificate
    return make_fluoro(extra_args=["--tls-cert", cert, "--tls-key", key]).start()


def test_aws_clients_over_tls(secure):
    f = secure
    assert f.endpoint.startswith("https://")
    logs = f.client()
    logs.create_log_group(logGroupName="/tls/app")
    logs.create_log_stream(logGroupName="/tls/app", logStreamName="s")
    logs.put_log_events(logGroupName="/tls/app", logStreamName="s",
                        logEvents=[{"timestamp": now_ms(), "message": "over tls"}])
    events = logs.get_log_events(logGroupName="/tls/app", logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["over tls"]

    out = f.cli("logs", "describe-log-groups", "--log-group-name-prefix", "/tls/")
    assert [g["logGroupName"] for g in json.loads(out.stdout)["logGroups"]] == ["/tls/app"]

    f.client("cloudwatch").put_metric_data(Namespace="Tls", MetricData=[{"MetricName": "m", "Value": 1}])
    assert wait_until(lambda: f.client("cloudwatch").list_metrics(Namespace="Tls")["Metrics"])


def test_untrusted_or_plain_clients_get_nothing(secure):
    f = secure
    # A client that does not trust the certificate fails the handshake.
    import boto3
    untrusting = boto3.client("logs", endpoint_url=f.endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
    with pytest.raises(SSLError):
        untrusting.describe_log_groups()

    # Plain HTTP on the TLS port gets no HTTP answer, and the server keeps serving.
    for port in (f.http_port, f.ports["otlp_http"]):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                answer = b""
            assert not answer.startswith(b"HTTP/1.1 200"), answer
    # A handshake that never finishes does not stop others being served.
    stalled = socket.create_connection(("127.0.0.1", f.http_port))
    with f.urlopen(f.endpoint + "/health") as r:
        assert r.status == 200
    stalled.close()


def test_opentelemetry_exporters_over_tls(secure):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    f = secure
    with open(f.ca, "rb") as pem:
        credentials = grpc.ssl_channel_credentials(root_certificates=pem.read())
    # requests lets REQUESTS_CA_BUNDLE override the exporter's certificate_file; a session that
    # ignores the environment uses the file as given.
    session = requests.Session()
    session.trust_env = False
    exporters = {
        "tls-grpc": GrpcExporter(endpoint=f"https://127.0.0.1:{f.ports['otlp_grpc']}", credentials=credentials),
        "tls-http": HttpExporter(endpoint=f"https://127.0.0.1:{f.ports['otlp_http']}/v1/traces",
                                 certificate_file=f.ca, session=session),
    }
    for service, exporter in exporters.items():
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("tls-test").start_as_current_span("work"):
            pass
        provider.shutdown()

    xray = f.client("xray")

    def services():
        now = time.time()
        summaries = xray.get_trace_summaries(StartTime=now - 300, EndTime=now + 60)["TraceSummaries"]
        return {s["EntryPoint"]["Name"] for s in summaries if s.get("EntryPoint")}

    assert wait_until(lambda: services() >= {"tls-grpc", "tls-http"}, timeout=15)

    # A gRPC client that does not trust the certificate is refused.
    with grpc.secure_channel(f"127.0.0.1:{f.ports['otlp_grpc']}", grpc.ssl_channel_credentials()) as channel:
        with pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=3)


def test_mismatched_key_is_refused_at_start(make_fluoro, certificate, tmp_path):
    cert, _ = certificate
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-out", str(other)], check=True, capture_output=True)
    f = make_fluoro(extra_args=["--tls-cert", cert, "--tls-key", str(other)])
    with pytest.raises(RuntimeError, match="exited with 1"):
        f.start(timeout=10)
    with open(f.log_path, encoding="utf-8", errors="replace") as log:
        assert "the TLS certificate and key do not match" in log.read()
