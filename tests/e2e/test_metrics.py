"""CloudWatch metrics against the real binary: boto3 (AWS JSON 1.0), the aws CLI, raw awsQuery
and raw RPC v2 CBOR requests from the spec's worked examples."""

import datetime as dt
import gzip
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import botocore.exceptions
import cbor2
import pytest

NS = "MyApp"
XMLNS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"


def minute_ago(minutes):
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=minutes)


@pytest.fixture
def cw(fluoro):
    return fluoro.client("cloudwatch")


def post(fluoro, path, body, headers):
    return fluoro.request("POST", path, body, headers)


def test_boto3_speaks_json_and_statistics_match_the_spec(cw):
    assert cw.meta.service_model.resolved_protocol == "json"
    t = minute_ago(10)
    dims = [{"Name": "Service", "Value": "checkout"}]
    # §2.5: 11:00:10 Values [10, 20]; 11:00:40 Value 30; 11:01:05 StatisticValues (2, 100, 40, 60).
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": t + dt.timedelta(seconds=10),
         "Values": [10, 20], "Counts": [1, 1], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": t + dt.timedelta(seconds=40), "Value": 30,
         "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": t + dt.timedelta(seconds=65),
         "StatisticValues": {"SampleCount": 2, "Sum": 100, "Minimum": 40, "Maximum": 60}, "Unit": "Milliseconds"},
    ])
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Latency", Dimensions=dims, StartTime=t,
                                   EndTime=t + dt.timedelta(minutes=2), Period=60,
                                   Statistics=["SampleCount", "Average", "Maximum"])
    points = [(p["Timestamp"], p["SampleCount"], p["Average"], p["Maximum"], p["Unit"]) for p in out["Datapoints"]]
    assert out["Label"] == "Latency"
    assert points == [(t, 3.0, 20.0, 30.0, "Milliseconds"), (t + dt.timedelta(minutes=1), 2.0, 50.0, 60.0, "Milliseconds")]
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Latency", Dimensions=dims, StartTime=t,
                                   EndTime=t + dt.timedelta(minutes=2), Period=60, ExtendedStatistics=["p50"])
    assert [(p["Timestamp"], p["ExtendedStatistics"]) for p in out["Datapoints"]] == [(t, {"p50": 20.0})]
    # The exact dimension set is required.
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Latency", StartTime=t,
                                   EndTime=t + dt.timedelta(minutes=2), Period=60, Statistics=["Sum"])
    assert out["Datapoints"] == []


def test_high_resolution_percentiles_and_math(cw):
    t = minute_ago(5)
    values = list(range(1, 101))
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Hits", "Dimensions": [{"Name": "Host", "Value": h}], "Timestamp": t + dt.timedelta(seconds=s),
         "Value": v, "StorageResolution": 1}
        for h, s, v in [("a", 1, 10), ("a", 2, 20), ("b", 1, 5), ("b", 11, 7)]
    ] + [{"MetricName": "Work", "Timestamp": t, "Values": values, "Unit": "Count"}])
    end = t + dt.timedelta(minutes=1)
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Hits", Dimensions=[{"Name": "Host", "Value": "b"}],
                                   StartTime=t, EndTime=end, Period=10, Statistics=["Sum"])
    assert [(p["Timestamp"], p["Sum"]) for p in out["Datapoints"]] == [(t, 5.0), (t + dt.timedelta(seconds=10), 7.0)]
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Work", StartTime=t, EndTime=end, Period=60,
                                   ExtendedStatistics=["p99", "tm90", "IQM", "PR(:50)"])
    assert out["Datapoints"][0]["ExtendedStatistics"] == {"p99": 99.0, "tm90": 45.5, "IQM": 50.5, "PR(:50)": 50.0}

    def stat(host, id_, ret=True):
        return {"Id": id_, "ReturnData": ret, "MetricStat": {"Metric": {
            "Namespace": NS, "MetricName": "Hits", "Dimensions": [{"Name": "Host", "Value": host}]},
            "Period": 60, "Stat": "Sum"}}

    out = cw.get_metric_data(StartTime=t, EndTime=end, ScanBy="TimestampAscending", MetricDataQueries=[
        stat("a", "a", False), stat("b", "b", False),
        {"Id": "total", "Expression": "a + b", "Label": "All hosts"},
        {"Id": "each", "Expression": "METRICS() * 2"},
        {"Id": "rate", "Expression": "RATE(FILL(a, 0))", "ReturnData": False},
        {"Id": "found", "Expression": f"SEARCH('{{{NS},Host}} Hits', 'Sum', 60)"},
    ])
    results = [(r["Id"], r["Label"], r["Values"], r["StatusCode"]) for r in out["MetricDataResults"]]
    assert results[0] == ("total", "All hosts", [42.0], "Complete")
    # METRICS() in request order; each element labelled by its series.
    assert results[1:3] == [("each", "Hits", [60.0], "Complete"), ("each", "Hits", [24.0], "Complete")]
    assert results[3:] == [("found", "a", [30.0], "Complete"), ("found", "b", [12.0], "Complete")]
    # Errors of the expression language come back as ValidationError.
    with pytest.raises(botocore.exceptions.ClientError) as err:
        cw.get_metric_data(StartTime=t, EndTime=end, MetricDataQueries=[stat("a", "a"), {"Id": "e", "Expression": "a +"}])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "Error in expression e:" in err.value.response["Error"]["Message"]


def test_get_metric_data_pages(cw):
    t = minute_ago(30)
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Paged", "Timestamp": t + dt.timedelta(minutes=i), "Value": i} for i in range(20)])
    query = [{"Id": "m", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "Paged"}, "Period": 60, "Stat": "Sum"}}]
    paginator = cw.get_paginator("get_metric_data")
    pages = list(paginator.paginate(StartTime=t, EndTime=t + dt.timedelta(minutes=20), MetricDataQueries=query,
                                    MaxDatapoints=7, ScanBy="TimestampAscending"))
    assert len(pages) == 3
    values = [v for p in pages for r in p["MetricDataResults"] for v in r["Values"]]
    assert values == [float(i) for i in range(20)]
    assert [r["StatusCode"] for p in pages for r in p["MetricDataResults"]] == ["PartialData", "PartialData", "Complete"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        cw.get_metric_data(StartTime=t, EndTime=t + dt.timedelta(minutes=5), MetricDataQueries=query, NextToken="bogus")
    assert err.value.response["Error"]["Code"] == "InvalidNextToken"


def test_list_metrics_filters(cw):
    now = minute_ago(1)
    cw.put_metric_data(Namespace="Shop", MetricData=[
        {"MetricName": "Orders", "Dimensions": [{"Name": "Stage", "Value": s}, {"Name": "Region", "Value": r}],
         "Timestamp": now, "Value": 1} for s in ("prod", "dev") for r in ("eu", "us")
    ] + [{"MetricName": "Visits", "Timestamp": now, "Value": 1}])
    listed = cw.list_metrics(Namespace="Shop")["Metrics"]
    assert len(listed) == 5
    assert listed[0] == {"Namespace": "Shop", "MetricName": "Orders",
                         "Dimensions": [{"Name": "Region", "Value": "eu"}, {"Name": "Stage", "Value": "dev"}]}
    prod = cw.list_metrics(Namespace="Shop", Dimensions=[{"Name": "Stage", "Value": "prod"}])["Metrics"]
    assert len(prod) == 2
    assert len(cw.list_metrics(Dimensions=[{"Name": "Region"}])["Metrics"]) == 4
    assert cw.list_metrics(Namespace="Shop", MetricName="Visits", RecentlyActive="PT3H")["Metrics"][0]["Dimensions"] == []
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.list_metrics(NextToken="not-a-token")


def test_aws_cli_and_gzip_bodies(fluoro, cw):
    t = minute_ago(3)
    fluoro.cli("cloudwatch", "put-metric-data", "--namespace", "Cli", "--metric-name", "Jobs",
               "--dimensions", "Queue=q1", "--value", "4", "--unit", "Count", "--timestamp", t.isoformat())
    out = json.loads(fluoro.cli("cloudwatch", "get-metric-statistics", "--namespace", "Cli", "--metric-name", "Jobs",
                                "--dimensions", "Name=Queue,Value=q1", "--start-time", t.isoformat(),
                                "--end-time", (t + dt.timedelta(minutes=1)).isoformat(), "--period", "60",
                                "--statistics", "Sum").stdout)
    assert out["Datapoints"][0]["Sum"] == 4.0
    # 1,000 datums serialize to far more than 10 KiB: botocore gzips the body.
    cw.put_metric_data(Namespace="Bulk", MetricData=[
        {"MetricName": "Item", "Dimensions": [{"Name": "N", "Value": str(i % 50)}], "Timestamp": t, "Value": i}
        for i in range(1000)])
    assert len(cw.list_metrics(Namespace="Bulk")["Metrics"]) == 50


def test_raw_aws_query_from_the_spec(fluoro):
    t = minute_ago(2).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = ("Action=PutMetricData&Version=2010-08-01&Namespace=MyApp"
            "&MetricData.member.1.MetricName=Latency"
            "&MetricData.member.1.Dimensions.member.1.Name=Service&MetricData.member.1.Dimensions.member.1.Value=checkout"
            "&MetricData.member.1.Dimensions.member.2.Name=Stage&MetricData.member.1.Dimensions.member.2.Value=prod"
            f"&MetricData.member.1.Timestamp={urllib.parse.quote(t)}"
            "&MetricData.member.1.Values.member.1=12.5&MetricData.member.1.Values.member.2=30.0"
            "&MetricData.member.1.Counts.member.1=3.0&MetricData.member.1.Counts.member.2=1.0"
            "&MetricData.member.1.Unit=Milliseconds&MetricData.member.1.StorageResolution=60"
            "&MetricData.member.2.MetricName=Errors&MetricData.member.2.Value=1.0&MetricData.member.2.Unit=Count")
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    status, headers, reply = post(fluoro, "/", body.encode(), form)
    assert status == 200, reply
    assert headers["Content-Type"] == "text/xml"
    root = ET.fromstring(reply)
    assert root.tag == XMLNS + "PutMetricDataResponse"
    assert root.find(f"{XMLNS}ResponseMetadata/{XMLNS}RequestId").text == headers["x-amzn-RequestId"]
    # The same request gzipped.
    status, _, _ = post(fluoro, "/", gzip.compress(body.encode()), {**form, "Content-Encoding": "gzip"})
    assert status == 200
    end = (minute_ago(2) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = ("Action=GetMetricStatistics&Version=2010-08-01&Namespace=MyApp&MetricName=Latency"
             "&Dimensions.member.1.Name=Stage&Dimensions.member.1.Value=prod"
             "&Dimensions.member.2.Name=Service&Dimensions.member.2.Value=checkout"
             f"&StartTime={urllib.parse.quote(t)}&EndTime={urllib.parse.quote(end)}&Period=60"
             "&Statistics.member.1=Sum&Statistics.member.2=SampleCount")
    status, _, reply = post(fluoro, "/", query.encode(), form)
    assert status == 200, reply
    point = ET.fromstring(reply).find(f"{XMLNS}GetMetricStatisticsResult/{XMLNS}Datapoints/{XMLNS}member")
    assert point.find(f"{XMLNS}Sum").text == "135.0"  # 2 × (12.5×3 + 30) gzip + plain
    assert point.find(f"{XMLNS}SampleCount").text == "8.0"
    assert point.find(f"{XMLNS}Timestamp").text == t.replace("Z", ".000Z")
    # Errors in the query protocol's own shape.
    status, _, reply = post(fluoro, "/", b"Action=PutMetricData&Version=2010-08-01&Namespace=N"
                            b"&MetricData.member.1.MetricName=m&MetricData.member.1.Value=NaN", form)
    assert status == 400
    error = ET.fromstring(reply).find(f"{XMLNS}Error")
    assert [error.find(XMLNS + k).text for k in ("Type", "Code", "Message")] == [
        "Sender", "InvalidParameterValue", "The value NaN for parameter MetricData.member.1.Value is invalid."]
    status, _, reply = post(fluoro, "/", b"Action=Bogus&Version=2010-08-01", form)
    assert status == 400 and b"<Code>InvalidAction</Code>" in reply
    # awsQuery as a GET with the parameters in the URL.
    with urllib.request.urlopen(fluoro.endpoint + "/?Action=ListMetrics&Version=2010-08-01&Namespace=MyApp",
                                timeout=10) as r:
        members = ET.fromstring(r.read()).findall(f"{XMLNS}ListMetricsResult/{XMLNS}Metrics/{XMLNS}member")
    assert sorted(m.find(f"{XMLNS}MetricName").text for m in members) == ["Errors", "Latency"]


PUT_CBOR = bytes.fromhex(
    "a2694e616d657370616365654d794170706a4d65747269634461746182a76a4d65747269634e616d65674c61"
    "74656e63796a44696d656e73696f6e7382a2644e616d6567536572766963656556616c756568636865636b6f"
    "7574a2644e616d656553746167656556616c75656470726f646954696d657374616d70c11a6787a340665661"
    "6c75657382fb4029000000000000fb403e00000000000066436f756e747382fb4008000000000000fb3ff000"
    "000000000064556e69746c4d696c6c697365636f6e64737153746f726167655265736f6c7574696f6e183ca3"
    "6a4d65747269634e616d65664572726f72736556616c7565fb3ff000000000000064556e697465436f756e74")
CBOR_HEADERS = {"Content-Type": "application/cbor", "Accept": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
                "x-amzn-query-mode": "true"}
CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"


def test_raw_cbor_from_the_spec(fluoro):
    # The spec's bytes carry a 2025 timestamp, too old to store: the same document with a
    # current one must be accepted, and the original refused with the timestamp rule.
    status, headers, reply = post(fluoro, CBOR_PATH + "PutMetricData", PUT_CBOR, CBOR_HEADERS)
    assert status == 400
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    error = cbor2.loads(reply)
    assert error["__type"] == "com.amazonaws.cloudwatch#InvalidParameterValueException"
    assert error["message"] == ("The parameter MetricData.member.1.Timestamp must specify a time within the past two weeks.")
    document = cbor2.loads(PUT_CBOR)
    t = minute_ago(2)
    document["MetricData"][0]["Timestamp"] = t
    status, headers, reply = post(fluoro, CBOR_PATH + "PutMetricData", cbor2.dumps(document, datetime_as_timestamp=True), CBOR_HEADERS)
    assert (status, reply) == (200, b""), reply
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers.get("Content-Type") is None
    status, headers, reply = post(fluoro, "/prefix" + CBOR_PATH + "ListMetrics", cbor2.dumps({"Namespace": "MyApp"}), CBOR_HEADERS)
    assert status == 200 and headers["Content-Type"] == "application/cbor"
    names = sorted(m["MetricName"] for m in cbor2.loads(reply)["Metrics"])
    assert names == ["Errors", "Latency"]
    query = {"StartTime": t, "EndTime": t + dt.timedelta(minutes=1), "MetricDataQueries": [{"Id": "m", "MetricStat": {
        "Metric": {"Namespace": "MyApp", "MetricName": "Latency", "Dimensions": [
            {"Name": "Service", "Value": "checkout"}, {"Name": "Stage", "Value": "prod"}]},
        "Period": 60, "Stat": "Sum"}}]}
    status, _, reply = post(fluoro, CBOR_PATH + "GetMetricData", cbor2.dumps(query, datetime_as_timestamp=True), CBOR_HEADERS)
    assert status == 200
    result = cbor2.loads(reply)["MetricDataResults"][0]
    assert result["Values"] == [67.5]
    assert result["Timestamps"] == [t]  # tag 1 timestamps decode as datetimes
    status, headers, reply = post(fluoro, CBOR_PATH + "PutMetricData", b"\xa1\x61", CBOR_HEADERS)
    assert status == 400 and cbor2.loads(reply)["__type"] == "SerializationException"
    assert headers["x-amzn-query-error"] == "MalformedInput;Sender"


def test_bad_input_in_every_protocol(fluoro, cw):
    t = minute_ago(1)
    too_many = [{"Name": f"d{i}", "Value": "v"} for i in range(31)]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "m", "Dimensions": too_many, "Value": 1}])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "Member must have length less than or equal to 30" in err.value.response["Error"]["Message"]
    with pytest.raises(cw.exceptions.InvalidParameterValueException) as err:
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "m", "Value": 1}])
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException):
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "m", "Value": 1, "Values": [1]}])
    with pytest.raises(cw.exceptions.MissingRequiredParameterException):
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "m", "Timestamp": t}])
    with pytest.raises(cw.exceptions.InvalidParameterValueException) as err:
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "m", "Value": 1e200}])
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException) as err:
        cw.get_metric_statistics(Namespace=NS, MetricName="m", StartTime=t - dt.timedelta(days=2), EndTime=t,
                                 Period=60, Statistics=["Sum"])
    assert "You have requested up to 2,880 datapoints" in err.value.response["Error"]["Message"]
    # Nothing of a rejected request was stored (atomic).
    assert cw.list_metrics(Namespace=NS, MetricName="m")["Metrics"] == []
    # Malformed JSON and a bad unit through raw JSON 1.0.
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"}
    status, h, reply = post(fluoro, "/", b"{nope", headers)
    assert status == 400 and json.loads(reply)["__type"] == "SerializationException"
    assert h["x-amzn-query-error"] == "MalformedInput;Sender"
    status, _, reply = post(fluoro, "/", json.dumps({"Namespace": "N", "MetricData": [
        {"MetricName": "m", "Value": 1, "Unit": "Parsecs"}]}).encode(), headers)
    assert status == 400 and json.loads(reply)["__type"] == "com.amazonaws.cloudwatch#ValidationException"
    status, _, reply = post(fluoro, "/", b"{}", {**headers, "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricWidgetImage"})
    assert status == 501 and "not supported by fluoro" in json.loads(reply)["message"]
    status, _, _ = post(fluoro, "/", b"x" * (2 << 20), headers)
    assert status == 413
    # The server keeps serving.
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "ok", "Value": 1}])
    assert cw.list_metrics(Namespace=NS, MetricName="ok")["Metrics"]


def test_samples_survive_restart(make_fluoro):
    f = make_fluoro().start()
    cw = f.client("cloudwatch")
    t = minute_ago(4)
    cw.put_metric_data(Namespace="Durable", MetricData=[{"MetricName": "m", "Timestamp": t, "Value": 3}])
    f.kill()
    f.start()
    cw = f.client("cloudwatch")
    assert cw.list_metrics(Namespace="Durable")["Metrics"][0]["MetricName"] == "m"
    out = cw.get_metric_statistics(Namespace="Durable", MetricName="m", StartTime=t, EndTime=t + dt.timedelta(minutes=1),
                                   Period=60, Statistics=["Sum"])
    assert out["Datapoints"][0]["Sum"] == 3.0


def put_events(logs, group, stream, messages, timestamp=None):
    ts = timestamp or int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": ts + i, "message": m} for i, m in enumerate(messages)])


def test_metric_filter_counts_error_lines(fluoro, cw):
    logs = fluoro.client("logs")
    logs.create_log_group(logGroupName="/app/api")
    logs.create_log_stream(logGroupName="/app/api", logStreamName="s")
    logs.put_metric_filter(logGroupName="/app/api", filterName="errors", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "ErrorCount", "metricNamespace": "App",
                                                   "metricValue": "1", "defaultValue": 0, "unit": "Count"}])
    logs.put_metric_filter(logGroupName="/app/api", filterName="bytes",
                           filterPattern="[ip, server, username, timestamp, request, status_code, bytes > 1000]",
                           metricTransformations=[{"metricName": "Bytes", "metricNamespace": "App",
                                                   "metricValue": "$bytes", "dimensions": {"server": "$server"}}])
    described = logs.describe_metric_filters(logGroupName="/app/api")["metricFilters"]
    assert [f["filterName"] for f in described] == ["bytes", "errors"]
    assert described[1]["metricTransformations"][0] == {"metricName": "ErrorCount", "metricNamespace": "App",
                                                        "metricValue": "1", "defaultValue": 0.0, "unit": "Count"}
    assert logs.describe_log_groups(logGroupNamePrefix="/app/api")["logGroups"][0]["metricFilterCount"] == 2
    assert [f["filterName"] for f in logs.describe_metric_filters(metricName="Bytes", metricNamespace="App")["metricFilters"]] == ["bytes"]
    start = minute_ago(0)
    put_events(logs, "/app/api", "s", ["ERROR a", "INFO b", "ERROR c",
                                        '127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'])
    end = start + dt.timedelta(minutes=2)
    out = cw.get_metric_statistics(Namespace="App", MetricName="ErrorCount", StartTime=start, EndTime=end, Period=60,
                                   Statistics=["Sum", "SampleCount"])
    assert [(p["Sum"], p["SampleCount"], p["Unit"]) for p in out["Datapoints"]] == [(2.0, 4.0, "Count")]
    out = cw.get_metric_statistics(Namespace="App", MetricName="Bytes", Dimensions=[{"Name": "server", "Value": "Prod"}],
                                   StartTime=start, EndTime=end, Period=60, Statistics=["Sum"])
    assert [p["Sum"] for p in out["Datapoints"]] == [1534.0]
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="App")["Metrics"]}
    assert names == {"ErrorCount", "Bytes"}
    # TestMetricFilter: 0-based event numbers, extracted values of delimited patterns.
    tested = logs.test_metric_filter(filterPattern="[w1=ERROR, w2]", logEventMessages=["ERROR disk full", "INFO ok"])
    assert tested["matches"] == [{"eventNumber": 0, "eventMessage": "ERROR disk full",
                                  "extractedValues": {"$w1": "ERROR", "$w2": "disk full"}}]
    # Bad definitions and missing resources.
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_metric_filter(logGroupName="/app/api", filterName="bad", filterPattern="ERROR",
                               metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1",
                                                       "dimensions": {"a": "$.a"}}])
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_metric_filter(logGroupName="/nope", filterName="f", filterPattern="",
                               metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1"}])
    logs.delete_metric_filter(logGroupName="/app/api", filterName="errors")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_metric_filter(logGroupName="/app/api", filterName="errors")
    assert [f["filterName"] for f in logs.describe_metric_filters()["metricFilters"]] == ["bytes"]


def test_filters_survive_restart(make_fluoro):
    f = make_fluoro().start()
    logs = f.client("logs")
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    logs.put_metric_filter(logGroupName="g", filterName="warn", filterPattern="WARN",
                           metricTransformations=[{"metricName": "Warnings", "metricNamespace": "R", "metricValue": "1"}])
    f.stop()
    f.start()
    logs = f.client("logs")
    start = minute_ago(0)
    put_events(logs, "g", "s", ["WARN x", "WARN y"])
    out = f.client("cloudwatch").get_metric_statistics(Namespace="R", MetricName="Warnings", StartTime=start,
                                                       EndTime=start + dt.timedelta(minutes=2), Period=60,
                                                       Statistics=["Sum"])
    assert [p["Sum"] for p in out["Datapoints"]] == [2.0]


def test_embedded_metric_format(fluoro, cw):
    logs = fluoro.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/shop")
    logs.create_log_stream(logGroupName="/aws/lambda/shop", logStreamName="s")
    now = int(time.time() * 1000)
    good = {"_aws": {"Timestamp": now, "CloudWatchMetrics": [{"Namespace": "Shop", "Dimensions": [["Service"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]}, "Service": "cart", "Latency": [10, 20, 20]}
    bad = {"_aws": {"Timestamp": now, "CloudWatchMetrics": [{"Namespace": "Shop", "Dimensions": [["Service"]],
           "Metrics": [{"Name": "Latency"}]}]}, "Service": 42, "Latency": 10}
    put_events(logs, "/aws/lambda/shop", "s", [json.dumps(good), json.dumps(bad)], timestamp=now)
    listed = cw.list_metrics(Namespace="Shop")["Metrics"]
    assert listed == [{"Namespace": "Shop", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "cart"}]}]
    start = dt.datetime.fromtimestamp(now // 60000 * 60, dt.timezone.utc)
    out = cw.get_metric_statistics(Namespace="Shop", MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "cart"}],
                                   StartTime=start, EndTime=start + dt.timedelta(minutes=1), Period=60,
                                   Statistics=["SampleCount", "Sum", "Average"])
    assert [(p["SampleCount"], p["Sum"], p["Unit"]) for p in out["Datapoints"]] == [(3.0, 50.0, "Milliseconds")]
    # The invalid document is still a stored, searchable event, and is counted.
    found = logs.filter_log_events(logGroupName="/aws/lambda/shop", filterPattern='{ $.Service = 42 }')["events"]
    assert len(found) == 1
    errors = cw.list_metrics(Namespace="AWS/Logs", MetricName="EMFValidationErrors")["Metrics"]
    assert errors == [{"Namespace": "AWS/Logs", "MetricName": "EMFValidationErrors",
                       "Dimensions": [{"Name": "LogGroupName", "Value": "/aws/lambda/shop"}]}]


def native(fluoro, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(fluoro.endpoint + path, data=data, headers={"Content-Type": "application/json"},
                                     method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_native_metrics_api_for_the_ui(fluoro, cw):
    t = minute_ago(3)
    cw.put_metric_data(Namespace="Ui", MetricData=[
        {"MetricName": "Requests", "Dimensions": [{"Name": "Route", "Value": r}], "Timestamp": t + dt.timedelta(minutes=i),
         "Value": v} for i, (r, v) in enumerate([("/a", 1), ("/b", 2), ("/a", 3)])])
    status, body = native(fluoro, "/api/v1/metrics/namespaces")
    assert status == 200 and {"name": "Ui", "metrics": 2} in body["namespaces"]
    status, body = native(fluoro, "/api/v1/metrics?namespace=Ui&recent=true")
    assert sorted(m["dimensions"]["Route"] for m in body["metrics"]) == ["/a", "/b"]
    start = int(t.timestamp() * 1000)
    queries = [{"Id": "a", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "Ui", "MetricName": "Requests",
                "Dimensions": [{"Name": "Route", "Value": "/a"}]}, "Period": 60, "Stat": "Sum"}},
               {"Id": "twice", "Expression": "a * 2", "Label": "double"}]
    status, body = native(fluoro, "/api/v1/metrics/query", {"start": start, "end": start + 300_000, "queries": queries})
    assert status == 200, body
    assert body["results"] == [{"id": "twice", "label": "double", "status": "Complete",
                                "points": [[start, 2.0], [start + 120_000, 6.0]]}]
    status, body = native(fluoro, "/api/v1/metrics/query", {"start": start, "end": start + 300_000,
                                                            "queries": [{"Id": "x", "Expression": "nope("}]})
    assert status == 400 and body["code"] == "ValidationError"


def test_dynamic_labels_and_timezone(cw):
    t = minute_ago(4)
    cw.put_metric_data(Namespace="Labels", MetricData=[
        {"MetricName": "Cpu", "Dimensions": [{"Name": "Host", "Value": "web-1"}], "Timestamp": t + dt.timedelta(minutes=i),
         "Value": v} for i, v in enumerate([10, 30, 20])])
    out = cw.get_metric_data(StartTime=t, EndTime=t + dt.timedelta(minutes=3), LabelOptions={"Timezone": "-0130"},
                             MetricDataQueries=[{"Id": "m", "Label": "${PROP('Dim.Host')} max ${MAX} at ${MAX_TIME}",
                                                 "MetricStat": {"Metric": {"Namespace": "Labels", "MetricName": "Cpu",
                                                 "Dimensions": [{"Name": "Host", "Value": "web-1"}]},
                                                 "Period": 60, "Stat": "Maximum"}}])
    at = (t + dt.timedelta(minutes=1)).astimezone(dt.timezone(-dt.timedelta(hours=1, minutes=30)))
    assert out["MetricDataResults"][0]["Label"] == f"web-1 max 30 at {at.strftime('%Y-%m-%dT%H:%M:%S%z')}"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        cw.get_metric_data(StartTime=t, EndTime=t + dt.timedelta(minutes=3), LabelOptions={"Timezone": "CET"},
                           MetricDataQueries=[{"Id": "e", "Expression": "TIME_SERIES(1)"}])
    assert err.value.response["Error"]["Code"] == "ValidationError"
