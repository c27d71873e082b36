//! The worked examples of spec metrics-alarms.md §1.9, byte for byte where the spec gives bytes.

use serde_json::{Value, json};

use super::*;

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap()).collect()
}

const PUT_CBOR: &str = "a2694e616d657370616365654d794170706a4d65747269634461746182a76a4d65747269634e616d65674c61
74656e63796a44696d656e73696f6e7382a2644e616d6567536572766963656556616c756568636865636b6f
7574a2644e616d656553746167656556616c75656470726f646954696d657374616d70c11a6787a340665661
6c75657382fb4029000000000000fb403e00000000000066436f756e747382fb4008000000000000fb3ff000
000000000064556e69746c4d696c6c697365636f6e64737153746f726167655265736f6c7574696f6e183ca3
6a4d65747269634e616d65664572726f72736556616c7565fb3ff000000000000064556e697465436f756e74";

const PUT_JSON: &str = r#"{"Namespace": "MyApp", "MetricData": [{"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "checkout"},
 {"Name": "Stage", "Value": "prod"}], "Timestamp": 1736942400, "Values": [12.5, 30.0], "Counts": [3.0, 1.0],
 "Unit": "Milliseconds", "StorageResolution": 60}, {"MetricName": "Errors", "Value": 1.0, "Unit": "Count"}]}"#;

const PUT_QUERY: &str = "Action=PutMetricData&Version=2010-08-01&Namespace=MyApp\
&MetricData.member.1.MetricName=Latency\
&MetricData.member.1.Dimensions.member.1.Name=Service&MetricData.member.1.Dimensions.member.1.Value=checkout\
&MetricData.member.1.Dimensions.member.2.Name=Stage&MetricData.member.1.Dimensions.member.2.Value=prod\
&MetricData.member.1.Timestamp=2025-01-15T12%3A00%3A00Z\
&MetricData.member.1.Values.member.1=12.5&MetricData.member.1.Values.member.2=30.0\
&MetricData.member.1.Counts.member.1=3.0&MetricData.member.1.Counts.member.2=1.0\
&MetricData.member.1.Unit=Milliseconds&MetricData.member.1.StorageResolution=60\
&MetricData.member.2.MetricName=Errors&MetricData.member.2.Value=1.0&MetricData.member.2.Unit=Count";

#[test]
fn put_metric_data_decodes_alike_in_all_three_protocols() {
    let bytes = hex(PUT_CBOR);
    assert_eq!(bytes.len(), 264);
    let cbor = decode_request(Protocol::Cbor, "PutMetricData", &bytes).unwrap();
    let json = decode_request(Protocol::Json, "PutMetricData", PUT_JSON.as_bytes()).unwrap();
    let query = decode_request(Protocol::Query, "PutMetricData", PUT_QUERY.as_bytes()).unwrap();
    assert_eq!(cbor, json);
    assert_eq!(query, json);
    assert_eq!(json["MetricData"][0]["Timestamp"], json!(1736942400.0));
    assert_eq!(json["MetricData"][0]["StorageResolution"], json!(60));
    assert_eq!(json["MetricData"][1]["Value"], json!(1.0));
    let params = parse_form(PUT_QUERY.as_bytes());
    assert!(is_query_request(&params, None));
    assert_eq!(query_action(&params), Some("PutMetricData"));
}

#[test]
fn operations_without_output_answer_empty_bodies() {
    let (ct, body) = encode_response(Protocol::Cbor, "PutMetricData", &json!({}), "r");
    assert_eq!((ct, body.len()), (None, 0));
    let (_, body) = encode_response(Protocol::Json, "PutMetricData", &json!({}), "r");
    assert_eq!(body, b"{}");
    let (_, body) = encode_response(Protocol::Query, "PutMetricData", &json!({}), "5d7a1e0c");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "<PutMetricDataResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><ResponseMetadata><RequestId>5d7a1e0c</RequestId></ResponseMetadata></PutMetricDataResponse>"
    );
    let (_, body) = encode_response(Protocol::Query, "TagResource", &json!({}), "r");
    assert!(String::from_utf8(body).unwrap().contains("<TagResourceResult/>"));
}

const DESCRIBE_CBOR_REQUEST: &str =
    "a46f416c61726d4e616d65507265666978646170692d6a537461746556616c756565414c41524d6a416c61726d54797065
73826b4d6574726963416c61726d6e436f6d706f73697465416c61726d6a4d61785265636f7264730a";

const DESCRIBE_JSON_RESPONSE: &str = r#"{"MetricAlarms":[{"AlarmName":"api-latency-high","AlarmArn":"arn:aws:cloudwatch:us-east-1:000000000000:alarm:api-latency-high",
"AlarmConfigurationUpdatedTimestamp":1736941800.0,"ActionsEnabled":true,"OKActions":[],
"AlarmActions":["arn:aws:sns:us-east-1:000000000000:oncall"],"InsufficientDataActions":[],"StateValue":"ALARM",
"StateReason":"Threshold Crossed: 1 datapoint [512.0 (15/01/25 11:59:00)] was greater than the threshold (500.0).",
"StateReasonData":"{\"version\":\"1.0\",\"queryDate\":\"2025-01-15T12:00:05.123+0000\",\"startDate\":\"2025-01-15T11:59:00.000+0000\",\"statistic\":\"Average\",\"period\":60,\"recentDatapoints\":[512.0],\"threshold\":500.0,\"evaluatedDatapoints\":[{\"timestamp\":\"2025-01-15T11:59:00.000+0000\",\"sampleCount\":4.0,\"value\":512.0}]}",
"StateUpdatedTimestamp":1736942405.123,"MetricName":"Latency","Namespace":"MyApp","Statistic":"Average",
"Dimensions":[{"Name":"Service","Value":"checkout"}],"Period":60,"EvaluationPeriods":1,"Threshold":500.0,
"ComparisonOperator":"GreaterThanThreshold","TreatMissingData":"missing","StateTransitionedTimestamp":1736942405.123}],
"CompositeAlarms":[]}"#;

const DESCRIBE_CBOR_RESPONSE: &str =
    "a26c4d6574726963416c61726d7381b569416c61726d4e616d65706170692d6c6174656e63792d6869676868416c6172
6d41726e784061726e3a6177733a636c6f756477617463683a75732d656173742d313a3030303030303030303030303a
616c61726d3a6170692d6c6174656e63792d686967687822416c61726d436f6e66696775726174696f6e557064617465
6454696d657374616d70c1fb41d9e1e83a0000006e416374696f6e73456e61626c6564f5694f4b416374696f6e73806c
416c61726d416374696f6e7381782961726e3a6177733a736e733a75732d656173742d313a3030303030303030303030
303a6f6e63616c6c77496e73756666696369656e7444617461416374696f6e73806a537461746556616c756565414c41
524d6b5374617465526561736f6e78625468726573686f6c642043726f737365643a20312064617461706f696e74205b
3531322e30202831352f30312f32352031313a35393a3030295d207761732067726561746572207468616e2074686520
7468726573686f6c6420283530302e30292e6f5374617465526561736f6e4461746179011b7b2276657273696f6e223a
22312e30222c22717565727944617465223a22323032352d30312d31355431323a30303a30352e3132332b3030303022
2c22737461727444617465223a22323032352d30312d31355431313a35393a30302e3030302b30303030222c22737461
746973746963223a2241766572616765222c22706572696f64223a36302c22726563656e7444617461706f696e747322
3a5b3531322e305d2c227468726573686f6c64223a3530302e302c226576616c756174656444617461706f696e747322
3a5b7b2274696d657374616d70223a22323032352d30312d31355431313a35393a30302e3030302b30303030222c2273
616d706c65436f756e74223a342e302c2276616c7565223a3531322e307d5d7d7553746174655570646174656454696d
657374616d70c1fb41d9e1e8d147df3b6a4d65747269634e616d65674c6174656e6379694e616d657370616365654d79
4170706953746174697374696367417665726167656a44696d656e73696f6e7381a2644e616d65675365727669636565
56616c756568636865636b6f757466506572696f64183c714576616c756174696f6e506572696f647301695468726573
686f6c64fb407f40000000000072436f6d70617269736f6e4f70657261746f7274477265617465725468616e54687265
73686f6c647054726561744d697373696e6744617461676d697373696e67781a53746174655472616e736974696f6e65
6454696d657374616d70c1fb41d9e1e8d147df3b6f436f6d706f73697465416c61726d7380";

#[test]
fn describe_alarms_request_decodes_alike() {
    let cbor = decode_request(Protocol::Cbor, "DescribeAlarms", &hex(DESCRIBE_CBOR_REQUEST)).unwrap();
    let json = decode_request(
        Protocol::Json,
        "DescribeAlarms",
        br#"{"AlarmNamePrefix": "api-", "StateValue": "ALARM", "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 10}"#,
    )
    .unwrap();
    let query = decode_request(
        Protocol::Query,
        "DescribeAlarms",
        b"Action=DescribeAlarms&Version=2010-08-01&AlarmNamePrefix=api-&StateValue=ALARM&AlarmTypes.member.1=MetricAlarm&AlarmTypes.member.2=CompositeAlarm&MaxRecords=10",
    )
    .unwrap();
    assert_eq!(cbor, json);
    assert_eq!(query, json);
}

#[test]
fn describe_alarms_response_encodes_byte_for_byte() {
    let output: Value = serde_json::from_str(DESCRIBE_JSON_RESPONSE).unwrap();
    let (ct, body) = encode_response(Protocol::Cbor, "DescribeAlarms", &output, "r");
    assert_eq!(ct, Some("application/cbor"));
    let expected = hex(DESCRIBE_CBOR_RESPONSE);
    assert_eq!(expected.len(), 997);
    assert_eq!(body, expected);

    let (_, body) = encode_response(Protocol::Json, "DescribeAlarms", &output, "r");
    let text = String::from_utf8(body).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), output);
    assert!(text.contains(r#""Threshold":500.0"#) && text.contains(r#""StateUpdatedTimestamp":1736942405.123"#));

    let (_, body) = encode_response(Protocol::Query, "DescribeAlarms", &output, "0b6f6a4e-1111-2222-3333-444455556666");
    let xml = String::from_utf8(body).unwrap();
    for fragment in [
        "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><DescribeAlarmsResult><MetricAlarms><member><AlarmName>api-latency-high</AlarmName>",
        "<AlarmConfigurationUpdatedTimestamp>2025-01-15T11:50:00.000Z</AlarmConfigurationUpdatedTimestamp>",
        "<ActionsEnabled>true</ActionsEnabled><OKActions/><AlarmActions><member>arn:aws:sns:us-east-1:000000000000:oncall</member></AlarmActions><InsufficientDataActions/>",
        "<StateReasonData>{&quot;version&quot;:&quot;1.0&quot;,",
        "<StateUpdatedTimestamp>2025-01-15T12:00:05.123Z</StateUpdatedTimestamp>",
        "<Dimensions><member><Name>Service</Name><Value>checkout</Value></member></Dimensions><Period>60</Period>",
        "<Threshold>500.0</Threshold>",
        "</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult><ResponseMetadata><RequestId>0b6f6a4e-1111-2222-3333-444455556666</RequestId></ResponseMetadata></DescribeAlarmsResponse>",
    ] {
        assert!(xml.contains(fragment), "{fragment}\nin\n{xml}");
    }
}

#[test]
fn cbor_error_body_is_byte_exact() {
    let error = CwError::invalid_value("bad value");
    let (ct, body) = encode_error(Protocol::Cbor, &error, "r");
    assert_eq!(ct, "application/cbor");
    assert_eq!(
        body,
        hex(
            "a2665f5f747970657837636f6d2e616d617a6f6e6177732e636c6f7564776174636823496e76616c6964506172616d6574657256616c7565457863657074696f6e676d657373616765696261642076616c7565"
        )
    );
    let (_, json) = encode_error(Protocol::Json, &error, "r");
    assert_eq!(
        serde_json::from_slice::<Value>(&json).unwrap(),
        json!({"__type": "com.amazonaws.cloudwatch#InvalidParameterValueException", "message": "bad value"})
    );
    let (_, xml) = encode_error(Protocol::Query, &CwError::invalid_parameter("NaN", "MetricData.member.1.Value"), "u");
    assert_eq!(
        String::from_utf8(xml).unwrap(),
        "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender</Type><Code>InvalidParameterValue</Code><Message>The value NaN for parameter MetricData.member.1.Value is invalid.</Message></Error><RequestId>u</RequestId></ErrorResponse>"
    );
}

#[test]
fn model_constraints_become_validation_errors() {
    let error =
        decode_request(Protocol::Json, "SetAlarmState", br#"{"AlarmName":"a","StateValue":"BOGUS"}"#).unwrap_err();
    assert_eq!(error.code, "ValidationError");
    assert_eq!(
        error.message,
        "2 validation errors detected: Value 'BOGUS' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [OK, ALARM, INSUFFICIENT_DATA]; Value null at 'stateReason' failed to satisfy constraint: Member must not be null"
    );
    let dims: Vec<Value> = (0..31).map(|i| json!({"Name": format!("d{i}"), "Value": "v"})).collect();
    let body = json!({"Namespace": "N", "MetricData": [{"MetricName": "m", "Value": 1, "Dimensions": dims}]});
    let error = decode_request(Protocol::Json, "PutMetricData", body.to_string().as_bytes()).unwrap_err();
    assert!(
        error.message.contains("at 'metricData.1.member.dimensions' failed to satisfy constraint: Member must have length less than or equal to 30"),
        "{}",
        error.message
    );
    let error = decode_request(
        Protocol::Json,
        "PutMetricData",
        br#"{"Namespace":"N","MetricData":[{"MetricName":"m","Unit":"Parsecs"}]}"#,
    )
    .unwrap_err();
    assert!(error.message.contains(
        "at 'metricData.1.member.unit' failed to satisfy constraint: Member must satisfy enum value set: [Seconds,"
    ));
}

#[test]
fn bad_bodies_are_serialization_errors() {
    for (protocol, body) in [
        (Protocol::Json, &b"{not json"[..]),
        (Protocol::Json, br#"{"Namespace": 5}"#),
        (Protocol::Cbor, &[0xa1, 0x61][..]),
        (Protocol::Cbor, &[0xbf, 0x61, 0x61][..]),
        (Protocol::Cbor, &[0x82, 0x01][..]),
    ] {
        let error = decode_request(protocol, "PutMetricData", body).unwrap_err();
        assert_eq!(error.code, "MalformedInput", "{body:?}");
        assert_eq!(error.type_name(), "SerializationException");
    }
    let error =
        decode_request(Protocol::Query, "PutMetricData", b"Namespace=N&MetricData.member.1.Value=abc").unwrap_err();
    assert_eq!(error.message, "The value abc for parameter MetricData.member.1.Value is invalid.");
    assert_eq!(decode_request(Protocol::Json, "Nope", b"{}").unwrap_err().code, "InvalidAction");
}

#[test]
fn query_decoding_is_shape_driven() {
    // Gaps skipped, indices sorted numerically, the last duplicate wins, empty lists, NaN kept
    // for the semantic check, unknown keys ignored.
    let body = b"Namespace=N&MetricData.member.10.MetricName=b&MetricData.member.2.MetricName=a\
&MetricData.member.2.Value=NaN&MetricData.member.2.Value=2.5&Bogus.member.1=x&MetricData.member.10.Values.member.1=1e-05";
    let input = decode_request(Protocol::Query, "PutMetricData", body).unwrap();
    assert_eq!(
        input,
        json!({"Namespace": "N", "MetricData": [{"MetricName": "a", "Value": 2.5}, {"MetricName": "b", "Values": [1e-05]}]})
    );
    let input = decode_request(
        Protocol::Query,
        "PutMetricAlarm",
        b"AlarmName=a&AlarmActions=&EvaluationPeriods=1&ComparisonOperator=GreaterThanThreshold",
    )
    .unwrap();
    assert_eq!(input["AlarmActions"], json!([]));
    let input = decode_request(
        Protocol::Query,
        "PutMetricData",
        b"Namespace=N&MetricData.member.1.MetricName=m&MetricData.member.1.Value=NaN",
    )
    .unwrap();
    assert_eq!(input["MetricData"][0]["Value"], json!("NaN"));
    assert!(as_f64(&input["MetricData"][0]["Value"]).unwrap().is_nan());
}

#[test]
fn cbor_paths_accept_any_prefix() {
    assert_eq!(cbor_operation("/service/GraniteServiceVersion20100801/operation/PutMetricData"), Some("PutMetricData"));
    assert_eq!(
        cbor_operation("/prefix/service/GraniteServiceVersion20100801/operation/ListMetrics"),
        Some("ListMetrics")
    );
    assert_eq!(cbor_operation("/service/GraniteServiceVersion20100801/operation/"), None);
    assert_eq!(cbor_operation("/"), None);
}
