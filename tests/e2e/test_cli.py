"""The aws CLI, unchanged, against fluoro: the README tour."""

import json

from conftest import now_ms

GROUP = "/aws/lambda/checkout"
STREAM = "2026/11/21/[$LATEST]abc"


def test_cli_tour(fluoro):
    fluoro.cli("logs", "create-log-group", "--log-group-name", GROUP)
    fluoro.cli("logs", "create-log-stream", "--log-group-name", GROUP, "--log-stream-name", STREAM)
    now = now_ms()
    events = json.dumps([
        {"timestamp": now, "message": json.dumps({"level": "ERROR", "msg": "card declined"})},
        {"timestamp": now + 1, "message": json.dumps({"level": "INFO", "msg": "ok"})},
    ])
    out = json.loads(fluoro.cli("logs", "put-log-events", "--log-group-name", GROUP, "--log-stream-name", STREAM,
                                "--log-events", events).stdout)
    assert "nextSequenceToken" in out
    out = json.loads(fluoro.cli("logs", "filter-log-events", "--log-group-name", GROUP,
                                "--filter-pattern", '{ $.level = "ERROR" }').stdout)
    assert [json.loads(e["message"])["msg"] for e in out["events"]] == ["card declined"]
    out = json.loads(fluoro.cli("logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", STREAM,
                                "--start-from-head").stdout)
    assert len(out["events"]) == 2
    fluoro.cli("logs", "put-retention-policy", "--log-group-name", GROUP, "--retention-in-days", "7")
    out = json.loads(fluoro.cli("logs", "describe-log-groups").stdout)
    assert out["logGroups"][0]["retentionInDays"] == 7
    out = json.loads(fluoro.cli("logs", "describe-log-streams", "--log-group-name", GROUP).stdout)
    assert out["logStreams"][0]["logStreamName"] == STREAM
    fluoro.cli("logs", "tag-resource", "--resource-arn",
               f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}", "--tags", "team=payments")
    out = json.loads(fluoro.cli("logs", "list-tags-for-resource", "--resource-arn",
                                f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}").stdout)
    assert out["tags"] == {"team": "payments"}


def test_cli_errors(fluoro):
    result = fluoro.cli("logs", "delete-log-group", "--log-group-name", "/nope", check=False)
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr
    assert "The specified log group does not exist." in result.stderr
    result = fluoro.cli("logs", "put-retention-policy", "--log-group-name", "/nope", "--retention-in-days", "2",
                        check=False)
    assert "InvalidParameterException" in result.stderr
