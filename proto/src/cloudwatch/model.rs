//! The CloudWatch service model, embedded: the codecs and the constraint checks walk its
//! shapes, so every operation decodes the same way in all three protocols.
//!
//! `proto/models/cloudwatch.json` is botocore's model with the documentation stripped
//! (`proto/models/strip_model.py`); member lists keep the model's order, which is the order
//! responses are written in.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

const MODEL_JSON: &str = include_str!("../../models/cloudwatch.json");

pub static MODEL: LazyLock<Model> =
    LazyLock::new(|| serde_json::from_str(MODEL_JSON).expect("the embedded CloudWatch model parses"));

#[derive(Debug, Deserialize)]
pub struct Model {
    pub metadata: Metadata,
    pub operations: HashMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub target_prefix: String,
    pub xml_namespace: String,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub input: Option<String>,
    pub output: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeKind,
    #[serde(default)]
    pub members: Vec<(String, String)>,
    #[serde(default)]
    pub required: Vec<String>,
    pub member: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeKind {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Double,
    Boolean,
    Timestamp,
    Blob,
}

impl Model {
    pub fn shape(&self, name: &str) -> &Shape {
        self.shapes.get(name).unwrap_or_else(|| panic!("shape {name} is in the model"))
    }

    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }
}

impl Shape {
    pub fn member(&self, name: &str) -> Option<&str> {
        self.members.iter().find(|(m, _)| m == name).map(|(_, s)| s.as_str())
    }
}
