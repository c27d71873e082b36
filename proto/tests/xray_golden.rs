//! Golden tests of the traces spec: the filter-expression vectors of §6.7 over the §6.6
//! fixture, the worked examples of §2.13 (assembly, summaries, root causes) and the service
//! graph of §7.6.

use std::collections::BTreeMap;

use fluoro_proto::xray::filter::{Filter, GroupRef};
use fluoro_proto::xray::graph::Graph;
use fluoro_proto::xray::trace::StoredDocument;
use fluoro_proto::xray::{MAX_DOCUMENT_BYTES, Trace, parse_documents};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/filter_traces.json")).unwrap()
}

/// Validates documents as ingest does and compiles them as reads do.
fn compile(texts: &[&str]) -> Trace {
    let mut docs = Vec::new();
    for (seq, text) in texts.iter().enumerate() {
        for doc in parse_documents(text, MAX_DOCUMENT_BYTES).unwrap() {
            let (start_ns, end_ns) = (doc.start_ns, doc.end_ns);
            docs.push((doc.trace_id, StoredDocument { seq: seq as u64, json: doc.json, start_ns, end_ns }));
        }
    }
    let id = docs[0].0;
    Trace::compile(id, docs.into_iter().map(|(_, d)| d).collect(), ACCOUNT).unwrap()
}

fn fixture_traces() -> BTreeMap<String, Trace> {
    let fixture = fixture();
    fixture["traces"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, docs)| {
            let texts: Vec<&str> = docs.as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
            (name.clone(), compile(&texts))
        })
        .collect()
}

fn groups(reference: GroupRef<'_>) -> Option<(String, Option<String>)> {
    match reference {
        GroupRef::Name("slow") => Some(("slow".into(), Some("responsetime > 2".into()))),
        GroupRef::Name("loop") => Some(("loop".into(), Some("group.name = \"loop\"".into()))),
        _ => None,
    }
}

#[test]
fn filter_vectors_of_section_6_7() {
    let traces = fixture_traces();
    let fixture = fixture();
    let mut failures = Vec::new();
    for vector in fixture["vectors"].as_array().unwrap() {
        let expression = vector["expression"].as_str().unwrap();
        let expected: Vec<&str> = vector["matches"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        let filter = Filter::parse_with_groups(expression, &groups)
            .unwrap_or_else(|e| panic!("{expression:?} does not parse: {e}"));
        let got: Vec<&str> = traces.iter().filter(|(_, t)| filter.matches(t)).map(|(n, _)| n.as_str()).collect();
        if got != expected {
            failures.push(format!("{expression:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_expressions_are_refused_with_a_position() {
    let fixture = fixture();
    for text in fixture["invalid"].as_array().unwrap() {
        let text = text.as_str().unwrap();
        let error = Filter::parse_with_groups(text, &groups).expect_err(text);
        assert!(error.position >= 1 && error.position <= text.chars().count() + 1, "{text}: {error}");
        assert!(error.to_string().starts_with("Invalid filter expression at position "), "{error}");
    }
    assert!(Filter::parse_with_groups("group.name = \"loop\"", &groups).is_err());
    assert!(Filter::parse("fault AND service() { group.name = \"slow\" }").is_err());
    assert!(Filter::parse(&"(".repeat(40)).is_err());
    assert!(Filter::parse(&"x".repeat(2001)).is_err());
    assert_eq!(Filter::parse("responsetime > \"5\"").unwrap_err().position, 16);
}

#[test]
fn case_insensitive_keywords_and_literal_forms() {
    let traces = fixture_traces();
    for (expression, expected) in [
        ("RESPONSETIME > 1 and Fault", vec!["T2", "T7"]),
        ("user = 'alice' AND NOT annotation.beta = true", vec!["T1"]),
        ("user = alice", vec!["T1", "T6"]),
        ("http.status = 4.04e2", vec!["T8"]),
        ("annotation.tenant != \"acme\"", vec!["T2", "T8"]),
        ("!partial AND http.status != 200 AND user", vec!["T2", "T8"]),
        ("service(\"backend.example.com\") { http.status = 500 }", vec!["T2"]),
        ("edge(\"api.example.com\", \"backend.example.com\") { root }", vec!["T2", "T8"]),
        ("message CONTAINS \"null\"", vec!["T2"]),
        ("type = \"AWS::Lambda\"", vec!["T4"]),
        ("rootcause.responsetime.entity { name = \"cleanup\" }", vec!["T6"]),
    ] {
        let filter = Filter::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
        let got: Vec<&str> = traces.iter().filter(|(_, t)| filter.matches(t)).map(|(n, _)| n.as_str()).collect();
        assert_eq!(got, expected, "{expression}");
    }
}

const EXAMPLE_B: [&str; 2] = [
    r#"{"trace_id":"1-65a00020-0f1e2d3c4b5a69788796a5b4","id":"6e7f809102132435","name":"orders-api/prod","origin":"AWS::ApiGateway::Stage","resource_arn":"arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4e5/stages/prod","start_time":1704984608.000,"end_time":1704984608.742,"fault":true,"http":{"request":{"method":"POST","url":"https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/orders","client_ip":"198.51.100.23","user_agent":"curl/8.4.0","x_forwarded_for":true},"response":{"status":502,"content_length":36}},"annotations":{"aws:api_id":"a1b2c3d4e5","aws:api_stage":"prod"},"aws":{"api_gateway":{"account_id":"123456789012","rest_api_id":"a1b2c3d4e5","stage":"prod","request_id":"0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"},"xray":{"sampling_rule_name":"Default"}},"metadata":{"default":{"extended_request_id":"Rk3yJEXAMPLE="}},"subsegments":[{"id":"7f80910213243546","name":"orders-backend.internal.example.com","namespace":"remote","start_time":1704984608.004,"end_time":1704984608.738,"fault":true,"http":{"request":{"method":"POST","url":"http://orders-backend.internal.example.com/orders","traced":true},"response":{"status":502,"content_length":36}}}]}"#,
    r#"{"trace_id":"1-65a00020-0f1e2d3c4b5a69788796a5b4","id":"8091021324354657","parent_id":"7f80910213243546","name":"orders-backend","origin":"AWS::EC2::Instance","start_time":1704984608.010,"end_time":1704984608.733,"fault":true,"user":"u-2291","service":{"version":"1.4.2"},"http":{"request":{"method":"POST","url":"http://orders-backend.internal.example.com/orders","client_ip":"10.0.3.17","user_agent":"AmazonAPIGateway_a1b2c3d4e5"},"response":{"status":502}},"aws":{"ec2":{"instance_id":"i-0abc1234def567890","availability_zone":"us-east-1a","instance_size":"t3.small","ami_id":"ami-0123456789abcdef0"},"xray":{"sdk":"X-Ray for Java","sdk_version":"2.18.1","auto_instrumentation":false}},"annotations":{"customer_tier":"gold"},"cause":{"working_directory":"/opt/orders","exceptions":[{"id":"9102132435465768","type":"UpstreamUnavailableException","message":"inventory returned 503","cause":"b2c3d4e5f6071829","stack":[{"path":"OrderService.java","line":88,"label":"com.example.OrderService.reserve"}]}]},"subsegments":[{"id":"a1b2c3d4e5f60718","name":"inventory.example.net","namespace":"remote","start_time":1704984608.020,"end_time":1704984608.701,"fault":true,"http":{"request":{"method":"GET","url":"https://inventory.example.net/v1/stock/sku-123"},"response":{"status":503,"content_length":19}},"cause":{"exceptions":[{"id":"b2c3d4e5f6071829","type":"HttpServerErrorException","message":"503 Service Unavailable","remote":true}]}}]}"#,
];

#[test]
fn example_b_summary_and_root_cause() {
    let trace = compile(&EXAMPLE_B);
    let summary = trace.summary(None);
    assert_eq!(summary["HasFault"], true);
    assert_eq!(summary["ResponseTime"], 0.742);
    assert_eq!(summary["Duration"], 0.742);
    assert_eq!(summary["Users"][0]["UserName"], "u-2291");
    assert_eq!(summary["Http"]["HttpStatus"], 502);
    assert_eq!(summary["EntryPoint"]["Name"], "orders-api/prod");
    assert_eq!(summary["InstanceIds"], json!([{"Id": "i-0abc1234def567890"}]));
    assert_eq!(summary["AvailabilityZones"], json!([{"Name": "us-east-1a"}]));
    assert_eq!(summary["Annotations"]["customer_tier"][0]["AnnotationValue"], json!({"StringValue": "gold"}));
    let causes = summary["FaultRootCauses"].as_array().unwrap();
    assert_eq!(causes.len(), 1);
    assert_eq!(
        causes[0],
        json!({"ClientImpacting": true, "Services": [
            {"Name": "orders-api/prod", "Names": ["orders-api/prod"], "Type": "AWS::ApiGateway::Stage", "AccountId": ACCOUNT, "Inferred": false,
             "EntityPath": [{"Name": "orders-api/prod", "Exceptions": [], "Remote": false},
                            {"Name": "orders-backend.internal.example.com", "Exceptions": [], "Remote": true}]},
            {"Name": "orders-backend", "Names": ["orders-backend"], "Type": "AWS::EC2::Instance", "AccountId": ACCOUNT, "Inferred": false,
             "EntityPath": [{"Name": "orders-backend", "Exceptions": [{"Name": "UpstreamUnavailableException", "Message": "inventory returned 503"}], "Remote": false},
                            {"Name": "inventory.example.net", "Exceptions": [{"Name": "HttpServerErrorException", "Message": "503 Service Unavailable"}], "Remote": true}]},
            {"Name": "inventory.example.net", "Names": ["inventory.example.net"], "Type": "remote", "Inferred": true,
             "EntityPath": [{"Name": "inventory.example.net", "Exceptions": [], "Remote": true}]}
        ]})
    );
    // Inferred segment for the unanswered remote call.
    let api = trace.to_api(false);
    let segments = api["Segments"].as_array().unwrap();
    assert_eq!(segments.len(), 3);
    let inferred: Value = serde_json::from_str(segments[2]["Document"].as_str().unwrap()).unwrap();
    assert_eq!(inferred["inferred"], true);
    assert_eq!(inferred["parent_id"], "a1b2c3d4e5f60718");
    assert_eq!(inferred["origin"], "remote");
}

#[test]
fn service_graph_of_section_7_6() {
    let trace = compile(&EXAMPLE_B);
    let mut graph = Graph::default();
    graph.add_trace(&trace, 1704984000.0, 1704988000.0);
    let services = graph.to_services();
    let names: Vec<(&str, &str)> =
        services.iter().map(|s| (s["Name"].as_str().unwrap(), s["Type"].as_str().unwrap())).collect();
    assert_eq!(
        names,
        [
            ("orders-api/prod", "client"),
            ("inventory.example.net", "remote"),
            ("orders-api/prod", "AWS::ApiGateway::Stage"),
            ("orders-backend", "AWS::EC2::Instance")
        ]
    );
    assert_eq!(services[1]["State"], "unknown");
    assert_eq!(services[1]["SummaryStatistics"]["FaultStatistics"]["TotalCount"], 1);
    assert!(services[1].get("Root").is_none());
    assert_eq!(services[2]["Root"], true);
    assert_eq!(services[2]["State"], "active");
    assert_eq!(services[2]["SummaryStatistics"]["TotalResponseTime"], 0.742);
    assert_eq!(services[3]["SummaryStatistics"]["TotalResponseTime"], 0.723);
    let edge = |from: usize| services[from]["Edges"].as_array().unwrap().clone();
    assert_eq!(edge(0).len(), 1);
    assert_eq!(edge(0)[0]["ReferenceId"], 2);
    assert_eq!(edge(0)[0]["SummaryStatistics"]["FaultStatistics"]["TotalCount"], 1);
    assert_eq!(edge(0)[0]["SummaryStatistics"]["TotalResponseTime"], 0.742);
    assert_eq!(edge(2)[0]["ReferenceId"], 3);
    assert_eq!(edge(2)[0]["SummaryStatistics"]["TotalResponseTime"], 0.734);
    assert_eq!(edge(2)[0]["Aliases"][0]["Name"], "orders-backend.internal.example.com");
    assert_eq!(edge(3)[0]["ReferenceId"], 1);
    assert_eq!(edge(3)[0]["SummaryStatistics"]["TotalResponseTime"], 0.681);
    assert_eq!(edge(3)[0]["ResponseTimeHistogram"], json!([{"Value": 0.681, "Count": 1}]));
    assert!(services[0].get("SummaryStatistics").is_none());
}

#[test]
fn example_a_lambda_and_inferred_dynamodb() {
    let a1 = r#"{"trace_id":"1-65a00010-8c2d4e6f1a3b5c7d9e0f1a2b","id":"1f2e3d4c5b6a7980","name":"orders-fn","origin":"AWS::Lambda","resource_arn":"arn:aws:lambda:us-east-1:123456789012:function:orders-fn","start_time":1704984592.101,"end_time":1704984592.389,"http":{"response":{"status":200}},"aws":{"request_id":"6f1d2c3b-4a59-4e87-9b10-2a3c4d5e6f70"}}"#;
    let a2 = r#"{"trace_id":"1-65a00010-8c2d4e6f1a3b5c7d9e0f1a2b","id":"2a3b4c5d6e7f8091","parent_id":"1f2e3d4c5b6a7980","name":"orders-fn","origin":"AWS::Lambda::Function","start_time":1704984592.140,"end_time":1704984592.380,"aws":{"account_id":"123456789012","function_arn":"arn:aws:lambda:us-east-1:123456789012:function:orders-fn","resource_names":["orders-fn"]},"subsegments":[{"id":"3b4c5d6e7f809102","name":"Invocation","start_time":1704984592.141,"end_time":1704984592.372},{"id":"4c5d6e7f80910213","name":"Overhead","start_time":1704984592.372,"end_time":1704984592.379}]}"#;
    let a3 = r#"{"type":"subsegment","trace_id":"1-65a00010-8c2d4e6f1a3b5c7d9e0f1a2b","parent_id":"2a3b4c5d6e7f8091","id":"5d6e7f8091021324","name":"DynamoDB","namespace":"aws","start_time":1704984592.201,"end_time":1704984592.263,"in_progress":false,"http":{"response":{"status":200,"content_length":2}},"aws":{"operation":"PutItem","region":"us-east-1","request_id":"V2H1KQ0EXAMPLEREQUESTIDAAJG","table_name":"orders","resource_names":["orders"],"retries":0},"annotations":{"order_id":"A-1001","amount_cents":4599,"express":true}}"#;
    // The subsegment arrives first: it is attached once its parent is there.
    let trace = compile(&[a3, a1, a2]);
    assert_eq!(trace.entities[trace.root.unwrap()].id, "1f2e3d4c5b6a7980");
    assert_eq!(trace.response_time.map(|r| (r * 1000.0).round()), Some(288.0));
    let names: Vec<(String, Option<String>)> =
        trace.nodes.iter().map(|n| (n.name.clone(), n.node_type.clone())).collect();
    assert!(names.contains(&("orders-fn".into(), Some("AWS::Lambda".into()))));
    assert!(names.contains(&("orders-fn".into(), Some("AWS::Lambda::Function".into()))));
    assert!(names.contains(&("orders".into(), Some("AWS::DynamoDB::Table".into()))));
    let api = trace.to_api(false);
    let docs: Vec<Value> = api["Segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_str(s["Document"].as_str().unwrap()).unwrap())
        .collect();
    let function = docs.iter().find(|d| d["id"] == "2a3b4c5d6e7f8091").unwrap();
    let subs: Vec<&str> =
        function["subsegments"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(subs, ["Invocation", "Overhead", "DynamoDB"]);
    assert!(function["subsegments"][2].get("type").is_none());
    assert!(function["subsegments"][2].get("trace_id").is_none());
    let inferred = docs.iter().find(|d| d["inferred"] == true).unwrap();
    assert_eq!(inferred["name"], "DynamoDB");
    assert_eq!(inferred["origin"], "AWS::DynamoDB::Table");
    assert_eq!(inferred["parent_id"], "5d6e7f8091021324");
    let summary = trace.summary(None);
    assert_eq!(summary["Annotations"]["amount_cents"][0]["AnnotationValue"], json!({"NumberValue": 4599.0}));
    assert_eq!(summary["Annotations"]["express"][0]["AnnotationValue"], json!({"BooleanValue": true}));

    // The X-Ray API keeps Lambda's two nodes; the merged graph (the UI's) has one per function.
    let mut graph = Graph::default();
    graph.add_trace(&trace, 1704984500.0, 1704984700.0);
    let kinds = |services: &[Value]| -> Vec<(String, String)> {
        services.iter().map(|s| (s["Name"].as_str().unwrap().into(), s["Type"].as_str().unwrap().into())).collect()
    };
    assert_eq!(graph.to_services().len(), 4);
    let merged = graph.with_lambda_merged().to_services();
    assert_eq!(
        kinds(&merged),
        [
            ("orders-fn".into(), "client".into()),
            ("orders".into(), "AWS::DynamoDB::Table".into()),
            ("orders-fn".into(), "AWS::Lambda::Function".into()),
        ]
    );
    let function = &merged[2];
    assert_eq!(function["Root"], true);
    assert_eq!(function["SummaryStatistics"]["TotalResponseTime"], 0.288, "the whole invocation's time");
    assert_eq!(function["Edges"].as_array().unwrap().len(), 1, "only the DynamoDB edge, no self edge");
    assert_eq!(function["Edges"][0]["ReferenceId"], 1);
    assert_eq!(merged[0]["Edges"][0]["ReferenceId"], 2, "the client calls the function node");
}

#[test]
fn example_c_in_progress_then_completed() {
    let c1 = r#"{"trace_id":"1-65a00030-a1b2c3d4e5f60718293a4b5c","id":"c3d4e5f607182930","name":"report-worker","origin":"AWS::ECS::Container","start_time":1704984624.500,"in_progress":true,"http":{"request":{"method":"POST","url":"http://report-worker.local/reports"}},"aws":{"ecs":{"container":"report-worker-7d9f"}}}"#;
    let c2 = r#"{"type":"subsegment","trace_id":"1-65a00030-a1b2c3d4e5f60718293a4b5c","parent_id":"c3d4e5f607182930","id":"d4e5f60718293a4b","name":"render-pdf","start_time":1704984625.100,"end_time":1704984652.900,"metadata":{"render":{"pages":42}}}"#;
    let c3 = r#"{"trace_id":"1-65a00030-a1b2c3d4e5f60718293a4b5c","id":"c3d4e5f607182930","name":"report-worker","origin":"AWS::ECS::Container","start_time":1704984624.500,"end_time":1704984653.210,"in_progress":false,"http":{"request":{"method":"POST","url":"http://report-worker.local/reports"},"response":{"status":201}},"annotations":{"report_type":"monthly"},"aws":{"ecs":{"container":"report-worker-7d9f"}}}"#;
    let after_c1 = compile(&[c1]).summary(None);
    assert_eq!(after_c1["IsPartial"], true);
    assert!(after_c1.get("ResponseTime").is_none());
    assert!(Filter::parse("partial").unwrap().matches(&compile(&[c1])));
    let after_c2 = compile(&[c1, c2]).summary(None);
    assert_eq!(after_c2["IsPartial"], true);
    assert_eq!(after_c2["Duration"], 28.4);
    let trace = compile(&[c1, c2, c3]);
    let summary = trace.summary(None);
    assert_eq!(summary["IsPartial"], false);
    assert_eq!(summary["ResponseTime"], 28.71);
    assert_eq!(summary["Duration"], 28.71);
    assert_eq!(summary["Revision"], 3);
    assert!(Filter::parse("annotation.report_type = \"monthly\"").unwrap().matches(&trace));
    let api = trace.to_api(false);
    assert_eq!(api["Segments"].as_array().unwrap().len(), 1);
    let doc: Value = serde_json::from_str(api["Segments"][0]["Document"].as_str().unwrap()).unwrap();
    assert_eq!(doc["subsegments"][0]["name"], "render-pdf");
    assert!(doc["subsegments"][0].get("parent_id").is_none());
    // A late in-progress copy never replaces the complete one.
    let late = compile(&[c1, c2, c3, c1]);
    assert_eq!(late.summary(None)["IsPartial"], false);
    assert_eq!(late.revision, 3);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_filter_parser_never_panics(text in "[a-z(){}\\[\\]!=<>\"'.,:#0-9 _-]{0,80}") {
            let _ = Filter::parse(&text);
        }

        #[test]
        fn keyword_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
            Just("service("), Just("edge("), Just(")"), Just("{"), Just("}"), Just("annotation."), Just("annotation["),
            Just("]"), Just("rootcause.fault.service"), Just("id(name: \"a\")"), Just("AND"), Just("OR"), Just("NOT"),
            Just("!"), Just("="), Just("\"x\""), Just("5"), Just("true"), Just("responsetime"), Just("http.url"),
            Just(","), Just("#[{}]"), Just("rootcause.json ="), Just("group.name"), Just("last"), Just(" ")
        ], 0..20)) {
            let text: String = parts.concat();
            if let Ok(filter) = Filter::parse(&text) {
                let traces = fixture_traces();
                for trace in traces.values() {
                    let _ = filter.matches(trace);
                }
            }
        }
    }
}
