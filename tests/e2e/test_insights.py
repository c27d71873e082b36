"""Logs Insights through boto3 and the aws CLI (spec/insights.md §1): StartQuery →
GetQueryResults on data put with PutLogEvents (JSON logs and Lambda REPORT lines), errors,
StopQuery, DescribeQueries, GetLogRecord, GetLogGroupFields, saved queries, and SQL."""

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import now_ms, wait_until

API = "/app/api"
LAMBDA = "/aws/lambda/checkout"


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def seed(logs, base):
    """Data set A and B of insights.md §10, shifted to `base` (ms, a minute boundary)."""
    logs.create_log_group(logGroupName=API)
    logs.create_log_group(logGroupName=LAMBDA)
    for s in ("web-1", "web-2"):
        logs.create_log_stream(logGroupName=API, logStreamName=s)
    logs.create_log_stream(logGroupName=LAMBDA, logStreamName="2026/11/22/[$LATEST]abc")
    a = [
        ("web-1", 5000, {"level": "INFO", "path": "/users", "status": 200, "latency": 120}),
        ("web-2", 20000, {"level": "ERROR", "path": "/orders", "status": 500, "latency": 950, "error": "Timeout after 900 ms"}),
        ("web-1", 70000, {"level": "INFO", "path": "/orders", "status": 200, "latency": 80}),
        ("web-2", 150000, {"level": "WARN", "path": "/users", "status": 404, "latency": 15}),
        ("web-1", 285000, {"level": "ERROR", "path": "/users", "status": 503, "latency": 1300, "error": "Upstream unavailable"}),
        ("web-2", 300000, "plain text: cache warmup finished in 42 ms"),
        ("web-1", 390000, {"level": "INFO", "path": "/orders", "status": 201, "latency": 310}),
    ]
    for stream in ("web-1", "web-2"):
        events = [
            {"timestamp": base + off, "message": m if isinstance(m, str) else json.dumps(m, separators=(",", ":"))}
            for s, off, m in a if s == stream
        ]
        logs.put_log_events(logGroupName=API, logStreamName=stream, logEvents=events)
    rid = "11111111-aaaa-bbbb-cccc-00000000000"
    b = [
        (0, f"START RequestId: {rid}1 Version: $LATEST\n"),
        (251, f"REPORT RequestId: {rid}1\tDuration: 150.25 ms\tBilled Duration: 151 ms\tMemory Size: 128 MB\t"
              f"Max Memory Used: 70 MB\tInit Duration: 210.50 ms\t\nXRAY TraceId: 1-6632301f-0123456789abcdef01234567\t"
              f"SegmentId: 0aa1b2c3d4e5f607\tSampled: true\t\n"),
        (180000, f"REPORT RequestId: {rid}2\tDuration: 48.00 ms\tBilled Duration: 48 ms\tMemory Size: 128 MB\t"
                 f"Max Memory Used: 72 MB\t\n"),
    ]
    logs.put_log_events(logGroupName=LAMBDA, logStreamName="2026/11/22/[$LATEST]abc",
                        logEvents=[{"timestamp": base + off, "message": m} for off, m in b])


def run_query(logs, query, base, **kwargs):
    kwargs.setdefault("logGroupName", API)
    qid = logs.start_query(startTime=base // 1000, endTime=base // 1000 + 600, queryString=query, **kwargs)["queryId"]
    result = wait_until(lambda: (r := logs.get_query_results(queryId=qid))["status"] in ("Complete", "Failed") and r)
    assert result["status"] == "Complete", result
    return qid, result


def rows(result):
    return [{f["field"]: f["value"] for f in row} for row in result["results"]]


@pytest.fixture
def seeded(logs):
    base = (now_ms() - 3_600_000) // 60_000 * 60_000
    seed(logs, base)
    return base


def test_start_query_to_complete(logs, seeded):
    qid, result = run_query(logs, 'filter status >= 400 | stats count(*) as errors by path | sort path asc', seeded)
    assert rows(result) == [{"path": "/orders", "errors": "1"}, {"path": "/users", "errors": "2"}]
    stats = result["statistics"]
    assert stats["recordsScanned"] == 7.0 and stats["recordsMatched"] == 3.0 and stats["logGroupsScanned"] == 1.0
    assert stats["bytesScanned"] > 0

    _, result = run_query(logs, "fields @timestamp, path | filter level = 'ERROR' | sort @timestamp asc", seeded)
    got = rows(result)
    assert [r["path"] for r in got] == ["/orders", "/users"]
    assert all("@ptr" in r for r in got)
    assert result["results"][0][-1]["field"] == "@ptr"
    record = logs.get_log_record(logRecordPointer=got[0]["@ptr"])["logRecord"]
    assert record["level"] == "ERROR" and record["@logStream"] == "web-2" and record["@log"] == f"000000000000:{API}"
    assert record["@timestamp"] == str(seeded + 20000)


def test_lambda_report_fields(logs, seeded):
    _, result = run_query(
        logs,
        'filter @type = "REPORT" | stats avg(@duration) as avgDur, max(@maxMemoryUsed / 1000 / 1000) as maxMemMB, '
        'count(*) as invocations, count(@initDuration) as coldStarts, pct(@duration, 99) as p99',
        seeded, logGroupName=LAMBDA)
    assert rows(result) == [{"avgDur": "99.125", "maxMemMB": "72", "invocations": "2", "coldStarts": "1", "p99": "150.25"}]


def test_several_groups_and_identifiers(logs, seeded):
    qid = logs.start_query(logGroupIdentifiers=[API, f"arn:aws:logs:us-east-1:000000000000:log-group:{LAMBDA}"],
                           startTime=seeded // 1000, endTime=seeded // 1000 + 600,
                           queryString="stats count(*) as n by @log | sort n desc")["queryId"]
    result = wait_until(lambda: (r := logs.get_query_results(queryId=qid))["status"] == "Complete" and r)
    assert rows(result) == [{"@log": f"000000000000:{API}", "n": "7"}, {"@log": f"000000000000:{LAMBDA}", "n": "3"}]
    qid = logs.start_query(startTime=seeded // 1000, endTime=seeded // 1000 + 600,
                           queryString="SOURCE logGroups(namePrefix: ['/aws/']) | stats count(*) as n")["queryId"]
    result = wait_until(lambda: (r := logs.get_query_results(queryId=qid))["status"] == "Complete" and r)
    assert rows(result) == [{"n": "3"}]


def test_errors(logs, seeded):
    start, end = seeded // 1000, seeded // 1000 + 600
    r = error_of(logs.start_query, logGroupName=API, startTime=start, endTime=end, queryString="filter latency >")
    assert r["Error"]["Code"] == "MalformedQueryException"
    location = r["queryCompileError"]["location"]
    assert location == {"startCharOffset": 16, "endCharOffset": 16}
    r = error_of(logs.start_query, logGroupName=API, startTime=start, endTime=end, queryString="fields @message | bogus x")
    assert r["Error"]["Code"] == "MalformedQueryException"
    assert r["queryCompileError"]["location"] == {"startCharOffset": 18, "endCharOffset": 23}
    assert error_of(logs.start_query, logGroupName=API, startTime=end, endTime=start,
                    queryString="fields @message")["Error"]["Code"] == "InvalidParameterException"
    assert error_of(logs.start_query, logGroupName=API, logGroupNames=[API], startTime=start, endTime=end,
                    queryString="fields @message")["Error"]["Code"] == "InvalidParameterException"
    r = error_of(logs.start_query, logGroupName="/nope", startTime=start, endTime=end, queryString="fields @message")
    assert r["Error"]["Code"] == "ResourceNotFoundException"
    assert r["Error"]["Message"] == "Log group '/nope' does not exist for account ID '000000000000'"
    assert error_of(logs.get_query_results, queryId="nope")["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(logs.get_log_record, logRecordPointer="garbage")["Error"]["Code"] == "InvalidParameterException"
    assert error_of(logs.start_query, logGroupName=API, startTime=start, endTime=end, queryString="fields x",
                    queryLanguage="PPL")["Error"]["Code"] == "MalformedQueryException"


def test_stop_query_and_describe(make_fluoro):
    # One query at a time: the second waits as Scheduled and can be stopped before it runs.
    f = make_fluoro(["--query-concurrency", "1"]).start()
    logs = f.client("logs")
    base = (now_ms() - 3_600_000) // 60_000 * 60_000
    seed(logs, base)
    slow = "fields @message | parse @message /(?<a>.*)(?<b>.*)(?<c>.*)/ | stats count(*) by a"
    first = logs.start_query(logGroupName=API, startTime=base // 1000, endTime=base // 1000 + 600, queryString=slow)
    second = logs.start_query(logGroupName=API, startTime=base // 1000, endTime=base // 1000 + 600, queryString=slow)
    stopped = logs.stop_query(queryId=second["queryId"])
    assert stopped == {"success": True} or stopped["success"] is True
    status = logs.get_query_results(queryId=second["queryId"])["status"]
    assert status == "Cancelled"
    assert error_of(logs.stop_query, queryId=second["queryId"])["Error"]["Code"] == "InvalidParameterException"
    assert error_of(logs.stop_query, queryId="nope")["Error"]["Code"] == "ResourceNotFoundException"
    wait_until(lambda: logs.get_query_results(queryId=first["queryId"])["status"] == "Complete")
    queries = logs.describe_queries()["queries"]
    assert [q["queryId"] for q in queries][:2] == [second["queryId"], first["queryId"]]
    assert queries[0]["status"] == "Cancelled" and queries[0]["logGroupName"] == API
    assert queries[1]["queryString"] == slow
    assert [q["queryId"] for q in logs.describe_queries(status="Complete")["queries"]] == [first["queryId"]]


def test_paging_results(logs):
    logs.create_log_group(logGroupName="/many")
    logs.create_log_stream(logGroupName="/many", logStreamName="s")
    base = now_ms() - 600_000
    logs.put_log_events(logGroupName="/many", logStreamName="s",
                        logEvents=[{"timestamp": base + i, "message": f"line {i}"} for i in range(250)])
    qid = logs.start_query(logGroupName="/many", startTime=base // 1000, endTime=base // 1000 + 600,
                           queryString="fields @message | sort @timestamp asc", limit=200)["queryId"]
    wait_until(lambda: logs.get_query_results(queryId=qid)["status"] == "Complete")
    page = logs.get_query_results(queryId=qid, maxItems=150)
    assert len(page["results"]) == 150 and "nextToken" in page
    rest = logs.get_query_results(queryId=qid, maxItems=150, nextToken=page["nextToken"])
    assert len(rest["results"]) == 50 and "nextToken" not in rest
    assert rest["results"][-1][0] == {"field": "@message", "value": "line 199"}


def test_log_group_fields(logs, seeded):
    fields = logs.get_log_group_fields(logGroupName=API, time=seeded // 1000 + 120)["logGroupFields"]
    by_name = {f["name"]: f["percent"] for f in fields}
    assert by_name["@timestamp"] == 100 and by_name["@message"] == 100
    assert by_name["level"] == 86 and by_name["error"] == 29   # 6 of 7, 2 of 7
    assert fields[0]["percent"] >= fields[-1]["percent"]


def test_query_definitions(logs, fluoro):
    created = logs.put_query_definition(name="errors/by-path", queryString="filter status >= 500",
                                        logGroupNames=[API])["queryDefinitionId"]
    logs.put_query_definition(name="a-first", queryString="fields @message")
    defs = logs.describe_query_definitions()["queryDefinitions"]
    assert [d["name"] for d in defs] == ["a-first", "errors/by-path"]
    assert defs[1]["logGroupNames"] == [API] and defs[1]["queryDefinitionId"] == created
    logs.put_query_definition(queryDefinitionId=created, name="errors/by-path", queryString="filter status >= 400")
    defs = logs.describe_query_definitions(queryDefinitionNamePrefix="errors")["queryDefinitions"]
    assert [d["queryString"] for d in defs] == ["filter status >= 400"]
    assert logs.delete_query_definition(queryDefinitionId=created)["success"] is True
    assert error_of(logs.delete_query_definition, queryDefinitionId=created)["Error"]["Code"] == "ResourceNotFoundException"
    # Saved queries survive a restart.
    fluoro.stop()
    fluoro.start()
    defs = fluoro.client("logs").describe_query_definitions()["queryDefinitions"]
    assert [d["name"] for d in defs] == ["a-first"]


def test_sql(logs, fluoro, seeded):
    qid = logs.start_query(queryLanguage="SQL", startTime=seeded // 1000, endTime=seeded // 1000 + 600,
                           queryString="SELECT log_group, count(*) AS n FROM logs GROUP BY log_group ORDER BY n DESC")["queryId"]
    result = wait_until(lambda: (r := logs.get_query_results(queryId=qid))["status"] == "Complete" and r)
    assert rows(result) == [{"log_group": API, "n": "7"}, {"log_group": LAMBDA, "n": "3"}]
    assert result["queryLanguage"] == "SQL"
    r = error_of(logs.start_query, queryLanguage="SQL", startTime=seeded // 1000, endTime=seeded // 1000 + 600,
                 queryString="DROP TABLE logs")
    assert r["Error"]["Code"] == "MalformedQueryException"

    body = json.dumps({"query": "SELECT log_stream, count(*) AS n FROM log_group('/app/api') "
                                "WHERE message LIKE '%ERROR%' GROUP BY log_stream ORDER BY log_stream"}).encode()
    req = urllib.request.Request(fluoro.endpoint + "/api/v1/sql", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.load(resp)
    assert answer["columns"] == ["log_stream", "n"]
    assert answer["rows"] == [{"log_stream": "web-1", "n": 1}, {"log_stream": "web-2", "n": 1}]
    bad = urllib.request.Request(fluoro.endpoint + "/api/v1/sql", data=b'{"query": "SELEC nonsense"}',
                                 headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=30)
    assert info.value.code == 400 and "error" in json.load(info.value)


def test_aws_cli_start_query(fluoro, seeded):
    out = fluoro.cli("logs", "start-query", "--log-group-name", API, "--start-time", str(seeded // 1000),
                     "--end-time", str(seeded // 1000 + 600), "--query-string", "stats count(*) as n")
    qid = json.loads(out.stdout)["queryId"]

    def done():
        r = json.loads(fluoro.cli("logs", "get-query-results", "--query-id", qid).stdout)
        return r["status"] == "Complete" and r
    result = wait_until(done, timeout=20)
    assert result["results"] == [[{"field": "n", "value": "7"}]]
