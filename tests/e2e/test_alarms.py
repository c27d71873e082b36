"""Alarms against the real binary: boto3 and the aws CLI drive metric, percentile, math and
composite alarms; a local webhook receiver started by the test gets exactly one notification per
transition, also after it was down for a while and after a fluoro restart."""

import datetime as dt
import json
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.exceptions
import pytest

from conftest import free_port, now_ms, wait_until

XMLNS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"
TOPIC = "arn:aws:sns:us-east-1:000000000000:oncall"


class Receiver:
    """A webhook endpoint on a fixed loopback port that can be started and stopped."""

    def __init__(self, port):
        self.port = port
        self.received = []
        self.server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def messages(self):
        return [json.loads(body["Message"]) for _, body in self.received]


@pytest.fixture
def receiver():
    r = Receiver(free_port())
    yield r
    r.stop()


def config_file(tmp_path, receiver):
    path = tmp_path / "fluoro.toml"
    path.write_text(
        "[alarms]\nretry_initial_ms = 200\nretry_max_ms = 1000\n\n"
        f'[[notify]]\nname = "oncall"\nurl = "{receiver.url}"\nheaders = {{ X-Token = "secret" }}\n'
    )
    return str(path)


@pytest.fixture
def alarmed(make_fluoro, tmp_path, receiver):
    return make_fluoro(["--config", config_file(tmp_path, receiver)]).start()


def boundary():
    """The start of the current minute (the end of the newest bucket a 60-second alarm reads)."""
    return dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)


def alarm(cw, name):
    out = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return (out["MetricAlarms"] + out["CompositeAlarms"])[0]


def test_metric_filter_alarm_notifies_once_per_transition_through_outage_and_restart(alarmed, receiver):
    fluoro = alarmed
    logs, cw = fluoro.client("logs"), fluoro.client("cloudwatch")
    logs.create_log_group(logGroupName="app")
    logs.create_log_stream(logGroupName="app", logStreamName="s")
    logs.put_metric_filter(
        logGroupName="app", filterName="errors", filterPattern="ERROR",
        metricTransformations=[{"metricName": "ErrorCount", "metricNamespace": "App", "metricValue": "1",
                                "defaultValue": 0}],
    )
    # Five ERROR lines in the newest complete minute: the new alarm decides at once.
    end = boundary()
    at = int((end - dt.timedelta(seconds=30)).timestamp() * 1000)
    logs.put_log_events(logGroupName="app", logStreamName="s",
                        logEvents=[{"timestamp": at + i, "message": f"ERROR boom {i}"} for i in range(5)])
    cw.put_metric_alarm(
        AlarmName="errors-high", Namespace="App", MetricName="ErrorCount", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[TOPIC], OKActions=[TOPIC], AlarmDescription="errors in app",
    )
    a = alarm(cw, "errors-high")
    stamp = (end - dt.timedelta(minutes=1)).strftime("%d/%m/%y %H:%M:%S")
    assert a["StateValue"] == "ALARM"
    assert a["StateReason"] == (
        f"Threshold Crossed: 1 datapoint [5.0 ({stamp})] was greater than the threshold (0.0).")
    # The receiver is down: attempts fail and are recorded, evaluation carries on.
    failed = wait_until(lambda: [i for i in cw.describe_alarm_history(
        AlarmName="errors-high", HistoryItemType="Action")["AlarmHistoryItems"]], timeout=10)
    assert failed and failed[0]["HistorySummary"].startswith(f"Failed to execute action {TOPIC}")
    assert json.loads(failed[0]["HistoryData"])["actionState"] == "Failed"
    fluoro.stop()
    fluoro.start()
    assert alarm(cw, "errors-high")["StateValue"] == "ALARM", "state survives the restart"
    receiver.start()
    assert wait_until(lambda: len(receiver.received) >= 1, timeout=15)
    headers, body = receiver.received[0]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-topic-arn"] == TOPIC
    assert headers["x-token"] == "secret"
    assert body["Subject"] == 'ALARM: "errors-high" in US East (N. Virginia)'
    message = json.loads(body["Message"])
    assert (message["NewStateValue"], message["OldStateValue"]) == ("ALARM", "INSUFFICIENT_DATA")
    assert message["AlarmDescription"] == "errors in app"
    assert message["Trigger"]["MetricName"] == "ErrorCount"
    assert message["Trigger"]["Statistic"] == "SUM"

    # Quiet lines from now on: the next minute's bucket holds 0 and the alarm returns to OK.
    logs.put_log_events(logGroupName="app", logStreamName="s",
                        logEvents=[{"timestamp": now_ms(), "message": "all good"}])
    assert wait_until(lambda: alarm(cw, "errors-high")["StateValue"] == "OK", timeout=150, interval=1)
    assert wait_until(lambda: len(receiver.received) >= 2, timeout=15)
    time.sleep(2)
    states = [(m["NewStateValue"], m["OldStateValue"]) for m in receiver.messages()]
    assert states == [("ALARM", "INSUFFICIENT_DATA"), ("OK", "ALARM")], "exactly one notification per transition"
    items = cw.describe_alarm_history(AlarmName="errors-high", HistoryItemType="StateUpdate",
                                      ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from INSUFFICIENT_DATA to ALARM", "Alarm updated from ALARM to OK"]
    actions = cw.describe_alarm_history(AlarmName="errors-high", HistoryItemType="Action")["AlarmHistoryItems"]
    succeeded = [i for i in actions if json.loads(i["HistoryData"])["actionState"] == "Succeeded"]
    assert len(succeeded) == 2


def test_percentile_math_and_missing_data_alarms(alarmed):
    cw = alarmed.client("cloudwatch")
    t = boundary() - dt.timedelta(seconds=30)
    cw.put_metric_data(Namespace="Shop", MetricData=[
        {"MetricName": "Latency", "Timestamp": t, "Values": [float(v) for v in range(1, 101)]},
        {"MetricName": "Errors", "Timestamp": t, "Value": 8},
        {"MetricName": "Requests", "Timestamp": t, "Value": 100},
    ])
    cw.put_metric_alarm(AlarmName="p90-high", Namespace="Shop", MetricName="Latency", ExtendedStatistic="p90",
                        Period=60, EvaluationPeriods=1, Threshold=50, ComparisonOperator="GreaterThanThreshold")
    a = alarm(cw, "p90-high")
    assert a["StateValue"] == "ALARM"
    assert a["ExtendedStatistic"] == "p90"
    assert '"extendedStatistic":"p90"' in a["StateReasonData"]
    assert json.loads(a["StateReasonData"])["recentDatapoints"] == [90.0]

    def stat(i, name):
        return {"Id": i, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "Shop", "MetricName": name}, "Period": 60, "Stat": "Sum"}}
    cw.put_metric_alarm(AlarmName="error-rate", EvaluationPeriods=1, Threshold=5,
                        ComparisonOperator="GreaterThanThreshold",
                        Metrics=[stat("m1", "Errors"), stat("m2", "Requests"),
                                 {"Id": "e1", "Expression": "100*m1/m2", "Label": "rate", "ReturnData": True}])
    a = alarm(cw, "error-rate")
    assert a["StateValue"] == "ALARM"
    assert "[8.0 (" in a["StateReason"]
    assert a["Metrics"][2] == {"Id": "e1", "Expression": "100*m1/m2", "Label": "rate", "ReturnData": True}
    assert "MetricName" not in a

    expected = {"breaching": "ALARM", "notBreaching": "OK", "missing": "INSUFFICIENT_DATA",
                "ignore": "INSUFFICIENT_DATA"}
    for tmd in expected:
        cw.put_metric_alarm(AlarmName=f"silent-{tmd}", Namespace="Shop", MetricName="Nothing", Statistic="Sum",
                            Period=60, EvaluationPeriods=2, Threshold=1,
                            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData=tmd)
    for tmd, state in expected.items():
        a = alarm(cw, f"silent-{tmd}")
        assert a["StateValue"] == state, tmd
        assert a["TreatMissingData"] == tmd
    assert alarm(cw, "silent-breaching")["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as "
        "[Breaching].")
    assert alarm(cw, "silent-ignore")["StateReason"] == "Unchecked: Initial alarm creation"

    for_metric = cw.describe_alarms_for_metric(Namespace="Shop", MetricName="Latency")["MetricAlarms"]
    assert [a["AlarmName"] for a in for_metric] == ["p90-high"]


def test_composite_alarms_and_set_alarm_state(alarmed, receiver):
    receiver.start()
    cw = alarmed.client("cloudwatch")
    for name in ["cpu", "disk", "maint"]:
        cw.put_metric_alarm(AlarmName=name, Namespace="Host", MetricName=name, Statistic="Average", Period=60,
                            EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold",
                            TreatMissingData="ignore")
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="start")
    cw.put_composite_alarm(AlarmName="host-bad",
                           AlarmRule="(ALARM(cpu) OR ALARM(disk)) AND NOT ALARM(maint)",
                           AlarmActions=[TOPIC], OKActions=[TOPIC])
    assert alarm(cw, "host-bad")["StateValue"] == "OK"
    cw.set_alarm_state(AlarmName="disk", StateValue="ALARM", StateReason="disk full",
                       StateReasonData='{"source": "test"}')
    a = alarm(cw, "host-bad")
    assert a["StateValue"] == "ALARM"
    assert a["StateReason"].startswith("arn:aws:cloudwatch:us-east-1:000000000000:alarm:disk transitioned to ALARM at ")
    assert json.loads(a["StateReasonData"])["triggeringAlarms"][0]["arn"].endswith(":alarm:disk")
    cw.set_alarm_state(AlarmName="maint", StateValue="ALARM", StateReason="window")
    assert alarm(cw, "host-bad")["StateValue"] == "OK"
    assert alarm(cw, "disk")["StateReason"] == "disk full"
    assert wait_until(lambda: len(receiver.received) == 3, timeout=15)
    time.sleep(1)
    composite = [m for m in receiver.messages() if m["AlarmName"] == "host-bad"]
    assert [m["NewStateValue"] for m in composite] == ["OK", "ALARM", "OK"]
    assert composite[1]["AlarmRule"] == "(ALARM(cpu) OR ALARM(disk)) AND NOT ALARM(maint)"
    assert composite[1]["TriggeringChildren"][0]["Arn"].endswith(":alarm:disk")

    history = cw.describe_alarm_history(AlarmName="disk", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == "Alarm updated from OK to ALARM"
    assert json.loads(history[0]["HistoryData"])["newState"]["stateReasonData"] == {"source": "test"}
    composites = cw.describe_alarm_history(AlarmName="host-bad", AlarmTypes=["CompositeAlarm"])
    assert {i["AlarmType"] for i in composites["AlarmHistoryItems"]} == {"CompositeAlarm"}
    assert cw.describe_alarm_history(AlarmName="host-bad")["AlarmHistoryItems"] == [], "metric alarms by default"

    children = cw.describe_alarms(ChildrenOfAlarmName="host-bad")["MetricAlarms"]
    assert [c["AlarmName"] for c in children] == ["cpu", "disk", "maint"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.delete_alarms(AlarmNames=["cpu"])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.put_composite_alarm(AlarmName="x", AlarmRule="ALARM(cpu) AND")
    assert e.value.response["Error"]["Message"].startswith("Invalid AlarmRule: ")
    cw.disable_alarm_actions(AlarmNames=["host-bad"])
    assert alarm(cw, "host-bad")["ActionsEnabled"] is False
    cw.delete_alarms(AlarmNames=["host-bad", "cpu", "disk", "maint"])
    out = cw.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert out["MetricAlarms"] == [] and out["CompositeAlarms"] == []
    deleted = cw.describe_alarm_history(AlarmName="cpu", HistoryItemType="ConfigurationUpdate")
    assert deleted["AlarmHistoryItems"][0]["HistorySummary"] == 'Alarm "cpu" deleted', "history outlives the alarm"


def test_cli_query_protocol_and_bad_input(alarmed):
    fluoro = alarmed
    fluoro.cli("cloudwatch", "put-metric-alarm", "--alarm-name", "api-latency-high", "--namespace", "MyApp",
               "--metric-name", "Latency", "--statistic", "Average", "--period", "60", "--evaluation-periods", "1",
               "--threshold", "500", "--comparison-operator", "GreaterThanThreshold",
               "--dimensions", "Name=Service,Value=checkout", "--alarm-actions", TOPIC,
               "--tags", "Key=team,Value=web")
    out = json.loads(fluoro.cli("cloudwatch", "describe-alarms", "--alarm-name-prefix", "api-").stdout)
    assert out["MetricAlarms"][0]["Dimensions"] == [{"Name": "Service", "Value": "checkout"}]
    tags = json.loads(fluoro.cli("cloudwatch", "list-tags-for-resource", "--resource-arn",
                                 out["MetricAlarms"][0]["AlarmArn"]).stdout)
    assert tags["Tags"] == [{"Key": "team", "Value": "web"}]
    # The spec's awsQuery DescribeAlarms request.
    body = ("Action=DescribeAlarms&Version=2010-08-01&AlarmNamePrefix=api-&StateValue=INSUFFICIENT_DATA"
            "&AlarmTypes.member.1=MetricAlarm&AlarmTypes.member.2=CompositeAlarm&MaxRecords=10").encode()
    import urllib.request
    request = urllib.request.Request(fluoro.endpoint + "/", data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as r:
        root = ET.fromstring(r.read())
    members = root.findall(f"{XMLNS}DescribeAlarmsResult/{XMLNS}MetricAlarms/{XMLNS}member")
    assert [m.find(f"{XMLNS}AlarmName").text for m in members] == ["api-latency-high"]
    assert members[0].find(f"{XMLNS}AlarmActions/{XMLNS}member").text == TOPIC
    assert members[0].find(f"{XMLNS}Threshold").text == "500.0"
    assert root.find(f"{XMLNS}DescribeAlarmsResult/{XMLNS}CompositeAlarms") is not None

    cw = fluoro.client("cloudwatch")
    cases = [
        (dict(Period=45), "InvalidParameterValue", "The value 45 for parameter Period is invalid."),
        (dict(Period=60, EvaluationPeriods=2, DatapointsToAlarm=3), "InvalidParameterValue",
         "DatapointsToAlarm must be less than or equal to EvaluationPeriods."),
        (dict(Period=60, TreatMissingData="often"), "InvalidParameterValue",
         "The value often for parameter TreatMissingData is invalid."),
    ]
    for extra, code, message in cases:
        args = dict(AlarmName="bad", Namespace="X", MetricName="Y", Statistic="Sum", EvaluationPeriods=1,
                    Threshold=1, ComparisonOperator="GreaterThanThreshold")
        args.update(extra)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            cw.put_metric_alarm(**args)
        assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == (code, message)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cw.describe_alarms(NextToken="garbage")
    assert e.value.response["Error"]["Code"] == "InvalidNextToken"
    # The native API for the UI.
    with urllib.request.urlopen(fluoro.endpoint + "/api/v1/alarms", timeout=10) as r:
        listed = json.loads(r.read())
    assert [a["name"] for a in listed["alarms"]] == ["api-latency-high"]
    query = urllib.parse.urlencode({"name": "api-latency-high"})
    with urllib.request.urlopen(fluoro.endpoint + "/api/v1/alarms/detail?" + query, timeout=10) as r:
        detail = json.loads(r.read())
    assert detail["state"] == "INSUFFICIENT_DATA"
    assert detail["history"][0]["type"] == "ConfigurationUpdate"
    assert detail["configuration"]["MetricName"] == "Latency"


def test_anomaly_band_alarm_and_get_metric_data(alarmed):
    cw = alarmed.client("cloudwatch")
    newest = boundary() - dt.timedelta(minutes=1)
    data = [{"MetricName": "Orders", "Timestamp": newest - dt.timedelta(days=d), "Value": v}
            for d, v in [(1, 100.0), (2, 110.0), (3, 90.0), (4, 105.0), (5, 95.0)]]
    data.append({"MetricName": "Orders", "Timestamp": newest, "Value": 400.0})
    cw.put_metric_data(Namespace="Shop", MetricData=data)
    queries = [
        {"Id": "m1", "ReturnData": True,
         "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": "Orders"}, "Period": 60, "Stat": "Sum"}},
        {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "ReturnData": True},
    ]
    out = cw.get_metric_data(MetricDataQueries=queries, StartTime=newest,
                             EndTime=newest + dt.timedelta(minutes=1))["MetricDataResults"]
    assert [(r["Id"], r["Label"]) for r in out] == [
        ("m1", "Orders"), ("ad1", "Orders (expected)"), ("ad1", "Orders (expected)")]
    upper, lower = out[1]["Values"][0], out[2]["Values"][0]
    # Median 100, MAD 5 → spread 7.413; the band is 100 ± 14.826.
    assert abs(upper - 114.826) < 1e-6 and abs(lower - 85.174) < 1e-6
    cw.put_metric_alarm(AlarmName="orders-anomaly", EvaluationPeriods=1, ThresholdMetricId="ad1",
                        ComparisonOperator="GreaterThanUpperThreshold", Metrics=queries)
    a = alarm(cw, "orders-anomaly")
    assert a["StateValue"] == "ALARM"
    assert a["StateReason"].startswith("Thresholds Crossed: 1 datapoint [400.0 (")
    assert "was greater than the upper thresholds [114.826]" in a["StateReason"]
    assert a["ThresholdMetricId"] == "ad1" and "Threshold" not in a
