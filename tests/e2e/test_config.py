"""Configuration reaches the real binary: FLUORO_* environment variables and the TOML file."""

import os
import subprocess

from conftest import FLUORO_BIN


def test_env_and_toml_file(make_fluoro, tmp_path, monkeypatch):
    config = tmp_path / "fluoro.toml"
    config.write_text('region = "eu-west-3"\naccount_id = "123456789012"\n')
    monkeypatch.setenv("FLUORO_CONFIG", str(config))
    monkeypatch.setenv("FLUORO_ACCOUNT_ID", "210987654321")  # the environment wins over the file
    f = make_fluoro().start()
    logs = f.client()
    logs.create_log_group(logGroupName="/cfg")
    # Signed requests use their own region; the account comes from the environment.
    arn = logs.describe_log_groups()["logGroups"][0]["logGroupArn"]
    assert arn == "arn:aws:logs:us-east-1:210987654321:log-group:/cfg"


def test_bad_config_is_refused_with_a_message(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("no_such_setting = 1\n")
    result = subprocess.run([FLUORO_BIN, "serve", "--config", str(config), "--data-dir", str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "no_such_setting" in result.stderr


def test_help_lists_every_setting():
    out = subprocess.run([FLUORO_BIN, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    for flag in ("--data-dir", "--http-addr", "--otlp-grpc-addr", "--otlp-http-addr", "--xray-addr", "--wal-sync",
                 "--max-buffer-bytes", "--config"):
        assert flag in out
    assert "FLUORO_DATA_DIR" in out


def test_json_logs(make_fluoro, monkeypatch):
    import json
    monkeypatch.setenv("FLUORO_LOG_FORMAT", "json")
    f = make_fluoro().start()
    assert f.stop() == 0
    lines = [json.loads(line) for line in f.read_log().splitlines() if line.startswith("{")]
    assert any(entry.get("fields", {}).get("message") == "listening" for entry in lines)
