"""A full disk: fluoro's data directory on a small tmpfs the test mounts. While it is full,
writes get each protocol's retryable refusal (ServiceUnavailableException, OTLP 503), reads go
on, nothing stored is damaged; once space returns fluoro accepts writes again by itself, and
after a restart every acknowledged event is there exactly once and no refused one is."""

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import now_ms, wait_until

GROUP = "/disk/app"


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount):
    """Takes every free byte of the filesystem with one file."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def messages(f):
    logs = f.client()
    out, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=GROUP, **({"nextToken": token} if token else {}))
        out += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            return out


def test_full_disk_refuses_writes_retryably_and_recovers(make_fluoro, small_disk):
    f = make_fluoro(extra_args=["--flush-interval-secs", "1"], data_dir=small_disk).start()
    logs = f.client()
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    acknowledged = [f"before {i}" for i in range(300)]
    logs.put_log_events(logGroupName=GROUP, logStreamName="s",
                        logEvents=[{"timestamp": now_ms(), "message": m} for m in acknowledged])

    filler = fill(small_disk)
    refused = []
    for attempt in range(20):
        message = f"while full {attempt} " + "z" * 2000
        try:
            logs.put_log_events(logGroupName=GROUP, logStreamName="s",
                                logEvents=[{"timestamp": now_ms(), "message": message}])
            acknowledged.append(message)  # a write that found room is kept, and must stay
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ServiceUnavailableException", e.response
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] >= 500  # botocore retries it
            refused.append(message)
    assert refused, "no write was refused on a full disk"

    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "otlp while full"}}]}]}]})
    request = urllib.request.Request(f"http://127.0.0.1:{f.ports['otlp_http']}/v1/logs", data=body.encode(),
                                     headers={"content-type": "application/json", "x-aws-log-group": GROUP})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 503

    # Reads go on, and show what was acknowledged.
    assert sorted(messages(f)) == sorted(acknowledged)
    assert logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]

    # Space returns: writes are accepted again without a restart.
    os.remove(filler)

    def accepted():
        try:
            logs.put_log_events(logGroupName=GROUP, logStreamName="s",
                                logEvents=[{"timestamp": now_ms(), "message": "after"}])
            return True
        except ClientError:
            return False

    assert wait_until(accepted, timeout=20, interval=0.5)
    acknowledged.append("after")

    # After a restart (WAL replay): every acknowledged event once, no refused one.
    assert f.stop() == 0
    f.start()
    stored = messages(f)
    assert sorted(stored) == sorted(acknowledged)
    assert not set(refused) & set(stored)
