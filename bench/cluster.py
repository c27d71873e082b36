#!/usr/bin/env python3
"""Multi-node figures: ingest through 1 and then 2 `fluoro collector` processes, and the time
from a collector's acknowledgement to the event being found on a `fluoro query` node.

Starts, on loopback: a throwaway PostgreSQL cluster (Debian's postgresql package), moto's S3
server (`moto[server]`, in the test venv), the nodes (release build), then runs
`fluoro-bench cluster` against them. Each configuration gets fresh servers.

    cargo build --release -p fluoro -p fluoro-bench --bins
    python3 bench/cluster.py --input logs-10M.jsonl --events 2000000
"""

import argparse
import glob
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*args):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + list(args), check=True, stdout=subprocess.DEVNULL)


def wait_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def postgres_bin():
    return os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1])


class Infrastructure:
    """A throwaway PostgreSQL cluster and moto's S3 server with bucket `bench`, under `root`;
    `config` is a TOML file naming both."""

    def __init__(self, args, root):
        self.procs, self.root = [], root
        self.bindir = postgres_bin()
        self.pg = root / "pg"
        self.pg.mkdir()
        if os.geteuid() == 0:
            os.chmod(root, 0o711)  # mkdtemp makes it 0700; the postgres user must reach pg/
            shutil.chown(self.pg, "postgres")
        as_postgres(f"{self.bindir}/initdb", "-D", str(self.pg / "data"), "-U", "fluoro", "--auth=trust", "--no-sync")
        pg_port = free_port()
        as_postgres(f"{self.bindir}/pg_ctl", "-D", str(self.pg / "data"), "-l", str(self.pg / "log"), "-w", "start",
                    "-o", f"-p {pg_port} -k {self.pg} -c listen_addresses=127.0.0.1")
        s3_port = free_port()
        self.procs.append(subprocess.Popen([args.moto, "-H", "127.0.0.1", "-p", str(s3_port)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{s3_port}/")
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{s3_port}/bench", method="PUT"))
        self.config = root / "cluster.toml"
        self.config.write_text(
            f'metastore = "postgres://fluoro@127.0.0.1:{pg_port}/postgres"\n'
            f'[s3]\nbucket = "bench"\nendpoint = "http://127.0.0.1:{s3_port}"\n'
            'access_key_id = "bench"\nsecret_access_key = "bench-secret"\n')

    def stop(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()
        if (self.pg / "data").exists():
            as_postgres(f"{self.bindir}/pg_ctl", "-D", str(self.pg / "data"), "-m", "immediate", "stop")


def start_infrastructure(args, root):
    return Infrastructure(args, root)


def run_configuration(args, collectors):
    root = pathlib.Path(tempfile.mkdtemp(prefix="fluoro-cluster-bench"))
    procs = []
    infra = None
    try:
        infra = start_infrastructure(args, root)
        config = infra.config
        ports = []
        for n, role in enumerate(["collector"] * collectors + ["query"]):
            http = free_port()
            ports.append(http)
            log = open(root / f"{role}-{n}.log", "wb")
            procs.append(subprocess.Popen(
                [args.fluoro, role, "--config", str(config), "--data-dir", str(root / f"node{n}"),
                 "--node-id", f"{role}{n}", "--http-addr", f"127.0.0.1:{http}",
                 "--otlp-grpc-addr", f"127.0.0.1:{free_port()}", "--otlp-http-addr", f"127.0.0.1:{free_port()}",
                 "--xray-addr", f"127.0.0.1:{free_port()}"], stdout=log, stderr=log))
            wait_http(f"http://127.0.0.1:{http}/health")
        subprocess.run([args.bench, "cluster", "--input", args.input, "--events", str(args.events),
                        "--collectors", ",".join(map(str, ports[:-1])), "--query", str(ports[-1]),
                        "--clients", str(args.clients)], check=True)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        if infra:
            infra.stop()
        shutil.rmtree(root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--clients", type=int, default=2, help="HTTP clients per collector")
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    parser.add_argument("--fluoro", default=f"{target}/release/fluoro")
    parser.add_argument("--bench", default=f"{target}/release/fluoro-bench")
    parser.add_argument("--moto", default=shutil.which("moto_server") or "moto_server")
    args = parser.parse_args()
    for collectors in (1, 2):
        print(f"\n# {collectors} collector(s)", flush=True)
        run_configuration(args, collectors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
