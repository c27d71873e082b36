//! OTLP attribute builders for the OTLP mappings' tests (logs and traces).

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

/// One attribute.
pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// A string value.
pub fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}
