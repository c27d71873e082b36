"""Starts the real fluoro binary on free loopback ports with a temporary data directory."""

import glob
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config

FLUORO_BIN = os.environ.get("FLUORO_BIN", "target/debug/fluoro")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distinct_ports():
    """http, otlp_grpc, otlp_http and xray ports: all held open while they are chosen, so no two
    are the same; the last one is free for UDP too (X-Ray uses both)."""
    held, ports = [], []
    try:
        while len(ports) < 4:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if len(ports) == 3:
                try:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                        u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


class Fluoro:
    """One fluoro process; restartable on the same data directory."""

    def __init__(self, data_dir, extra_args=(), command="serve"):
        self.command = command
        self.data_dir = str(data_dir)
        self.extra_args = list(extra_args)
        self.http_port, grpc, otlp_http, xray = distinct_ports()
        self.ports = {"otlp_grpc": grpc, "otlp_http": otlp_http, "xray": xray}
        self.proc = None
        # The PEM certificate clients trust when fluoro serves TLS (`--tls-cert`).
        self.ca = None
        if "--tls-cert" in self.extra_args:
            self.ca = self.extra_args[self.extra_args.index("--tls-cert") + 1]
        self.log_path = os.path.join(self.data_dir, "..", f"fluoro-{self.http_port}.log")

    @property
    def endpoint(self):
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.http_port}"

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One HTTP request to the main port: (status, headers, body bytes), errors included.
        A dict or list body is sent as JSON."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        request = urllib.request.Request(self.endpoint + path, data=body, headers=headers, method=method)
        try:
            with self.urlopen(request, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def sql(self, query, timeout=60, limit=None):
        """`POST /api/v1/sql`: (status, decoded answer); `limit` caps the rows (the server's default is 10,000)."""
        request = {"query": query} if limit is None else {"query": query, "limit": limit}
        status, _, body = self.request("POST", "/api/v1/sql", request, timeout=timeout)
        return status, json.loads(body)

    def urlopen(self, request, timeout=10):
        """urllib with fluoro's certificate trusted when it serves TLS."""
        context = ssl.create_default_context(cafile=self.ca) if self.ca else None
        return urllib.request.urlopen(request, timeout=timeout, context=context)

    def start(self, timeout=30):
        args = [
            FLUORO_BIN, self.command,
            "--data-dir", self.data_dir,
            "--http-addr", f"127.0.0.1:{self.http_port}",
            "--otlp-grpc-addr", f"127.0.0.1:{self.ports['otlp_grpc']}",
            "--otlp-http-addr", f"127.0.0.1:{self.ports['otlp_http']}",
            "--xray-addr", f"127.0.0.1:{self.ports['xray']}",
            *self.extra_args,
        ]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fluoro exited with {self.proc.returncode}; log: {self.read_log()}")
            try:
                with self.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fluoro did not become healthy: " + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else None

    def client(self, service="logs", **config):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            verify=self.ca,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
        )

    def cli(self, *args, check=True):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
        result = subprocess.run(
            ["aws", "--endpoint-url", self.endpoint, "--output", "json",
             *(["--ca-bundle", self.ca] if self.ca else []), *args],
            capture_output=True, text=True, env=env, timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result


@pytest.fixture
def make_fluoro(tmp_path):
    started = []

    def make(extra_args=(), data_dir=None, command="serve"):
        d = data_dir or (tmp_path / f"data{len(started)}")
        os.makedirs(d, exist_ok=True)
        f = Fluoro(d, extra_args, command)
        started.append(f)
        return f

    yield make
    for f in started:
        f.kill()


@pytest.fixture
def fluoro(make_fluoro):
    return make_fluoro().start()


@pytest.fixture
def logs(fluoro):
    return fluoro.client("logs")


def now_ms():
    return int(time.time() * 1000)


def wait_until(predicate, timeout=10, interval=0.05):
    """Polls `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def metric_value(fluoro, name):
    """The sum of every `/metrics` series whose line starts with `name` (labels included)."""
    with fluoro.urlopen(fluoro.endpoint + "/metrics") as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def sampled_recorder(fluoro, xray, service):
    """An aws-xray-sdk recorder on fluoro's daemon port that samples `service` by a centralized
    rule (FixedRate 1, created through `xray`), once its poller has read the rules."""
    from aws_xray_sdk.core.recorder import AWSXRayRecorder

    xray.create_sampling_rule(SamplingRule=dict(
        RuleName=f"{service}-all", ResourceARN="*", Priority=1, FixedRate=1.0, ReservoirSize=0, ServiceName=service,
        ServiceType="*", Host="*", HTTPMethod="*", URLPath="*", Version=1))
    recorder = AWSXRayRecorder()
    recorder.configure(daemon_address="127.0.0.1:%d" % fluoro.ports["xray"], sampling=True,
                       context_missing="LOG_ERROR", service=service)
    recorder.begin_segment("warm-up")  # starts the rule poller
    recorder.end_segment()
    polls = 'fluoro_api_requests_total{operation="xray/GetSamplingRules"}'
    assert wait_until(lambda: metric_value(fluoro, polls) >= 1, timeout=10), "the SDK did not poll the rules"
    time.sleep(0.5)
    return recorder


S3_BUCKET = "fluoro-data"


@pytest.fixture
def s3_server(tmp_path):
    """moto's S3 server on a free loopback port with bucket `S3_BUCKET`: (endpoint, boto3 client)."""
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    assert wait_until(up, timeout=30), "moto_server did not start"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="minio",
                      aws_secret_access_key="minio-secret")
    s3.create_bucket(Bucket=S3_BUCKET)
    yield endpoint, s3
    proc.kill()
    proc.wait(timeout=10)


def postgres_bin():
    """The newest /usr/lib/postgresql/*/bin (Debian's postgresql package; tests/run.sh installs it)."""
    if os.environ.get("FLUORO_PG_BIN"):
        return os.environ["FLUORO_PG_BIN"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL is not installed (Debian's postgresql package)"
    return os.path.dirname(found[-1])


def run_as_postgres(*args):
    """The server refuses to run as root: as root, run its programs as the `postgres` user."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + list(args), check=True, stdout=subprocess.DEVNULL)


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster on a free loopback port: its URL. Its directory is made
    directly in /tmp: the server's user cannot enter pytest's private temporary tree."""
    bindir = postgres_bin()
    root = pathlib.Path(tempfile.mkdtemp(prefix="fluoro-pg"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    run_as_postgres(f"{bindir}/initdb", "-D", str(data), "-U", "fluoro", "--auth=trust", "-E", "UTF8", "--no-sync")
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run_as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    yield f"postgres://fluoro@127.0.0.1:{port}/postgres"
    run_as_postgres(f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(root, ignore_errors=True)
