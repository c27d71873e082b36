//! The language's own functions as vectorized DataFusion UDFs: each runs once per batch over
//! Arrow arrays. One struct, [`InsightsUdf`], carries an [`Op`]; its `key` names the op and its
//! parameters for DataFusion's plan equality.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{Datelike, TimeZone};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Float64Array, Int8Array, Int64Array, Int64Builder,
    ListBuilder, StringArray, StringBuilder, StructArray, StructBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type, Int64Type, UInt64Type};
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::Expr;
use fluoro_proto::fields::{LambdaValue, discover_json, lambda_fields};
use regex::Regex;

use super::values::{SortValue, compare_cmp, format_number, format_timestamp, natural_key, numeric_looking};

/// What a UDF computes.
#[derive(Debug)]
pub enum Op {
    /// Text → number by the numeric-looking rule; anything else is null.
    ToNum,
    /// Number → its text (integral without fraction).
    FormatNumber,
    /// Epoch ms → `YYYY-MM-DD HH:MM:SS.mmm`.
    FormatTimestamp,
    /// JSON text → the text form of the value (strings unquoted).
    JsonText,
    /// Text or number → a binary key in natural sort order.
    NaturalKey,
    /// Two values (text or number) → -1 / 0 / 1 in natural order.
    Compare,
    /// Epoch ms floored (or ceiled) to a period: fixed milliseconds, or calendar months.
    DateRound { millis: i64, months: i64, ceil: bool },
    /// `(message, group id)` → struct of the requested discovered and Lambda fields.
    Discover { fields: Vec<(String, DataType)>, lambda_groups: Arc<HashSet<u64>> },
    /// Text → struct of the regex's named captures (all strings); `groups[i]` is the capture
    /// index of `names[i]`.
    Parse { regex: Regex, names: Vec<String>, groups: Vec<usize> },
    /// A glob parse without a regex: literal parts found with memmem, lazy captures between them.
    Glob { glob: GlobMatcher, names: Vec<String> },
    /// Text (and a CIDR) → whether it is a valid address (inside the subnet).
    Ip(IpCheck),
    /// Text → compact JSON when it parses, else null.
    JsonParse,
    /// JSON → the member at `path` as JSON.
    JsonGet(Vec<String>),
    /// JSON → list of `{i, v}`: position and element JSON (a non-list is a one-element list).
    JsonList,
    /// Id → name, from a snapshot map.
    Lookup(Arc<HashMap<u64, String>>),
    /// `(group id, stream id)` → stream name, from the catalog (one lookup per batch).
    StreamNames(CatalogRef),
    /// `(group id, stream id)` → stream name, from a snapshot (a distributed plan's worker has
    /// no catalog).
    StreamMap(Arc<HashMap<u64, HashMap<u64, String>>>),
    /// `(group, stream, seq, timestamp)` → the opaque `@ptr`.
    Pointer,
    /// Text → a template with variable tokens shown as `<*>`.
    PatternTemplate,
    /// Template → severity label by keyword.
    Severity,
    /// 16-byte trace id → its X-Ray form (`1-…-…`), or 32 hex with `xray: false`.
    TraceText { xray: bool },
    /// Span id → 16 hex.
    SpanText,
}

/// The trace id column as text: the X-Ray form, or 32 hex with `xray: false`.
pub fn trace_text(xray: bool) -> Expr {
    InsightsUdf::call(
        "insights_trace_text",
        format!("{xray}"),
        Op::TraceText { xray },
        DataType::Utf8,
        vec![Expr::Column(datafusion::common::Column::new_unqualified(fluoro_proto::logs::columns::TRACE_ID))],
    )
}

/// The span id column as 16 hex.
pub fn span_text() -> Expr {
    InsightsUdf::call(
        "insights_span_text",
        String::new(),
        Op::SpanText,
        DataType::Utf8,
        vec![Expr::Column(datafusion::common::Column::new_unqualified(fluoro_proto::logs::columns::SPAN_ID))],
    )
}

/// The catalog, for stream names.
#[derive(Clone)]
pub struct CatalogRef(pub Arc<fluoro_store::Catalog>);

impl std::fmt::Debug for CatalogRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IpCheck {
    Any,
    V4,
    V6,
    InSubnet,
    V4InSubnet,
    V6InSubnet,
}

#[derive(Debug)]
pub struct InsightsUdf {
    name: String,
    key: String,
    op: Op,
    ret: DataType,
    arity: usize,
    signature: Signature,
}

impl PartialEq for InsightsUdf {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for InsightsUdf {}

impl Hash for InsightsUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl InsightsUdf {
    /// The call `op(args)`; `key` must tell apart ops whose parameters differ.
    pub fn call(name: &'static str, key: String, op: Op, ret: DataType, args: Vec<Expr>) -> Expr {
        Self::udf(name.to_owned(), format!("{name}:{key}"), op, ret, args.len()).call(args)
    }

    fn udf(name: String, key: String, op: Op, ret: DataType, arity: usize) -> ScalarUDF {
        let signature = if arity == 0 {
            Signature::nullary(Volatility::Immutable)
        } else {
            Signature::any(arity, Volatility::Immutable)
        };
        ScalarUDF::new_from_impl(Self { name, key, op, ret, arity, signature })
    }

    /// The function in the wire form of a distributed plan (`decode` reads it back). A
    /// catalog lookup travels as a snapshot of the stream names.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let op = match &self.op {
            Op::ToNum => OpWire::ToNum,
            Op::FormatNumber => OpWire::FormatNumber,
            Op::FormatTimestamp => OpWire::FormatTimestamp,
            Op::JsonText => OpWire::JsonText,
            Op::NaturalKey => OpWire::NaturalKey,
            Op::Compare => OpWire::Compare,
            Op::DateRound { millis, months, ceil } => {
                OpWire::DateRound { millis: *millis, months: *months, ceil: *ceil }
            }
            Op::Discover { fields, lambda_groups } => OpWire::Discover {
                fields: fields.iter().map(|(n, t)| Ok((n.clone(), wire_type(t)?))).collect::<Result<_>>()?,
                lambda_groups: lambda_groups.iter().copied().collect(),
            },
            Op::Parse { regex, names, groups } => {
                OpWire::Parse { regex: regex.as_str().to_owned(), names: names.clone(), groups: groups.clone() }
            }
            Op::Glob { glob, names } => OpWire::Glob { glob: glob.source.clone(), names: names.clone() },
            Op::Ip(check) => OpWire::Ip(*check),
            Op::JsonParse => OpWire::JsonParse,
            Op::JsonGet(path) => OpWire::JsonGet(path.clone()),
            Op::JsonList => OpWire::JsonList,
            Op::Lookup(names) => OpWire::Lookup(names.iter().map(|(k, v)| (*k, v.clone())).collect()),
            Op::StreamNames(catalog) => OpWire::StreamMap(catalog.0.read(|state| {
                state
                    .streams
                    .iter()
                    .flat_map(|(g, streams)| streams.values().map(|m| (*g, m.id, m.name.clone())))
                    .collect()
            })),
            Op::StreamMap(names) => OpWire::StreamMap(
                names.iter().flat_map(|(g, streams)| streams.iter().map(|(s, n)| (*g, *s, n.clone()))).collect(),
            ),
            Op::Pointer => OpWire::Pointer,
            Op::PatternTemplate => OpWire::PatternTemplate,
            Op::Severity => OpWire::Severity,
            Op::TraceText { xray } => OpWire::TraceText { xray: *xray },
            Op::SpanText => OpWire::SpanText,
        };
        let wire = UdfWire {
            name: self.name.clone(),
            key: self.key.clone(),
            op,
            ret: wire_type(&self.ret)?,
            arity: self.arity,
        };
        serde_json::to_vec(&wire).map_err(|e| DataFusionError::Internal(format!("encoding {}: {e}", self.name)))
    }

    /// Reads back what [`Self::encode`] wrote.
    pub(crate) fn decode(bytes: &[u8]) -> Result<ScalarUDF> {
        let wire: UdfWire = serde_json::from_slice(bytes)
            .map_err(|e| DataFusionError::Internal(format!("decoding an Insights function: {e}")))?;
        let op = match wire.op {
            OpWire::ToNum => Op::ToNum,
            OpWire::FormatNumber => Op::FormatNumber,
            OpWire::FormatTimestamp => Op::FormatTimestamp,
            OpWire::JsonText => Op::JsonText,
            OpWire::NaturalKey => Op::NaturalKey,
            OpWire::Compare => Op::Compare,
            OpWire::DateRound { millis, months, ceil } => Op::DateRound { millis, months, ceil },
            OpWire::Discover { fields, lambda_groups } => Op::Discover {
                fields: fields.into_iter().map(|(n, t)| Ok((n, read_type(&t)?))).collect::<Result<_>>()?,
                lambda_groups: Arc::new(lambda_groups.into_iter().collect()),
            },
            OpWire::Parse { regex, names, groups } => Op::Parse {
                regex: Regex::new(&regex).map_err(|e| DataFusionError::Internal(format!("decoding a parse: {e}")))?,
                names,
                groups,
            },
            OpWire::Glob { glob, names } => Op::Glob { glob: GlobMatcher::new(&glob), names },
            OpWire::Ip(check) => Op::Ip(check),
            OpWire::JsonParse => Op::JsonParse,
            OpWire::JsonGet(path) => Op::JsonGet(path),
            OpWire::JsonList => Op::JsonList,
            OpWire::Lookup(names) => Op::Lookup(Arc::new(names.into_iter().collect())),
            OpWire::StreamMap(names) => {
                let mut map: HashMap<u64, HashMap<u64, String>> = HashMap::new();
                for (g, s, name) in names {
                    map.entry(g).or_default().insert(s, name);
                }
                Op::StreamMap(Arc::new(map))
            }
            OpWire::Pointer => Op::Pointer,
            OpWire::PatternTemplate => Op::PatternTemplate,
            OpWire::Severity => Op::Severity,
            OpWire::TraceText { xray } => Op::TraceText { xray },
            OpWire::SpanText => Op::SpanText,
        };
        Ok(Self::udf(wire.name, wire.key, op, read_type(&wire.ret)?, wire.arity))
    }
}

/// The wire form of an [`InsightsUdf`].
#[derive(serde::Serialize, serde::Deserialize)]
struct UdfWire {
    name: String,
    key: String,
    op: OpWire,
    /// The return type as DataFusion's protobuf `ArrowType`.
    ret: Vec<u8>,
    arity: usize,
}

/// [`Op`] with its compiled parts as their sources.
#[derive(serde::Serialize, serde::Deserialize)]
enum OpWire {
    ToNum,
    FormatNumber,
    FormatTimestamp,
    JsonText,
    NaturalKey,
    Compare,
    DateRound {
        millis: i64,
        months: i64,
        ceil: bool,
    },
    Discover {
        fields: Vec<(String, Vec<u8>)>,
        lambda_groups: Vec<u64>,
    },
    Parse {
        regex: String,
        names: Vec<String>,
        groups: Vec<usize>,
    },
    Glob {
        glob: String,
        names: Vec<String>,
    },
    Ip(IpCheck),
    JsonParse,
    JsonGet(Vec<String>),
    JsonList,
    Lookup(Vec<(u64, String)>),
    /// `(group id, stream id, name)`.
    StreamMap(Vec<(u64, u64, String)>),
    Pointer,
    PatternTemplate,
    Severity,
    TraceText {
        xray: bool,
    },
    SpanText,
}

/// A data type as DataFusion's protobuf `ArrowType` bytes.
pub(crate) fn wire_type(data_type: &DataType) -> Result<Vec<u8>> {
    use prost::Message;
    let proto = datafusion_proto::protobuf::ArrowType::try_from(data_type)
        .map_err(|e| DataFusionError::Internal(format!("encoding {data_type}: {e}")))?;
    Ok(proto.encode_to_vec())
}

pub(crate) fn read_type(bytes: &[u8]) -> Result<DataType> {
    use prost::Message;
    let proto = datafusion_proto::protobuf::ArrowType::decode(bytes)
        .map_err(|e| DataFusionError::Internal(format!("decoding a data type: {e}")))?;
    DataType::try_from(&proto).map_err(|e| DataFusionError::Internal(format!("decoding a data type: {e}")))
}

fn text_array(value: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let array = value.to_array(rows)?;
    let array = if array.data_type() == &DataType::Utf8 { array } else { cast(&array, &DataType::Utf8)? };
    Ok(array.as_string::<i32>().clone())
}

/// A text or numeric argument, as the comparator sees it.
enum Values {
    Text(StringArray),
    Number(Float64Array),
    /// A scalar argument, evaluated once.
    Constant(Box<Values>),
}

impl Values {
    fn of(value: &ColumnarValue, rows: usize) -> Result<Self> {
        let array = value.to_array(rows)?;
        Ok(match array.data_type() {
            DataType::Float64 => Self::Number(array.as_primitive::<Float64Type>().clone()),
            DataType::Int64 | DataType::Int32 | DataType::UInt64 | DataType::Boolean => {
                Self::Number(cast(&array, &DataType::Float64)?.as_primitive::<Float64Type>().clone())
            }
            _ => Self::Text(text_array(value, rows)?),
        })
    }

    /// For comparisons: a scalar side is evaluated once, and numbers need no text length.
    fn of_compared(value: &ColumnarValue, rows: usize) -> Result<Self> {
        match value {
            ColumnarValue::Scalar(scalar) => {
                let one = Self::of(&ColumnarValue::Scalar(scalar.clone()), 1)?;
                Ok(Self::Constant(Box::new(one)))
            }
            ColumnarValue::Array(_) => Self::of(value, rows),
        }
    }

    fn get(&self, i: usize) -> Option<SortValue<'_>> {
        match self {
            Self::Text(a) => a.is_valid(i).then(|| SortValue::of_text(a.value(i))),
            Self::Number(a) => a.is_valid(i).then(|| SortValue::Number(a.value(i), 0)),
            Self::Constant(one) => one.get(0),
        }
    }

    /// Like [`Self::get`], with numbers carrying their text length for sorting.
    fn get_for_sort(&self, i: usize) -> Option<SortValue<'_>> {
        match self {
            Self::Number(a) => a.is_valid(i).then(|| SortValue::of_number(a.value(i))),
            _ => self.get(i),
        }
    }
}

impl ScalarUDFImpl for InsightsUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.ret.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = &args.args;
        let out: ArrayRef = match &self.op {
            Op::ToNum => {
                let text = text_array(&a[0], rows)?;
                Arc::new(text.iter().map(|v| v.and_then(numeric_looking)).collect::<Float64Array>())
            }
            Op::FormatNumber => {
                let numbers = a[0].to_array(rows)?;
                let numbers = cast(&numbers, &DataType::Float64)?;
                let numbers = numbers.as_primitive::<Float64Type>();
                Arc::new(numbers.iter().map(|v| v.and_then(format_number)).collect::<StringArray>())
            }
            Op::TraceText { xray } => {
                let ids = a[0].to_array(rows)?;
                let ids = ids.as_fixed_size_binary();
                let text = |id: &[u8]| {
                    let id = fluoro_proto::xray::ids::TraceId(id.try_into().ok()?);
                    Some(if *xray { id.to_xray() } else { id.to_hex() })
                };
                Arc::new(ids.iter().map(|v| v.and_then(text)).collect::<StringArray>())
            }
            Op::SpanText => {
                let ids = cast(&a[0].to_array(rows)?, &DataType::UInt64)?;
                let ids = ids.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
                Arc::new(ids.iter().map(|v| v.map(|v| format!("{v:016x}"))).collect::<StringArray>())
            }
            Op::FormatTimestamp => {
                let ms = cast(&a[0].to_array(rows)?, &DataType::Int64)?;
                Arc::new(
                    ms.as_primitive::<Int64Type>().iter().map(|v| v.map(format_timestamp)).collect::<StringArray>(),
                )
            }
            Op::JsonText => {
                let text = text_array(&a[0], rows)?;
                Arc::new(text.iter().map(|v| v.map(json_text)).collect::<StringArray>())
            }
            Op::NaturalKey => {
                let values = Values::of(&a[0], rows)?;
                let mut builder = BinaryBuilder::with_capacity(rows, rows * 16);
                let mut key = Vec::new();
                for i in 0..rows {
                    match values.get_for_sort(i) {
                        Some(v) => {
                            key.clear();
                            natural_key(v, &mut key);
                            builder.append_value(&key);
                        }
                        None => builder.append_null(),
                    }
                }
                Arc::new(builder.finish())
            }
            Op::Compare => {
                let (left, right) = (Values::of_compared(&a[0], rows)?, Values::of_compared(&a[1], rows)?);
                Arc::new(
                    (0..rows)
                        .map(|i| match (left.get(i), right.get(i)) {
                            (Some(l), Some(r)) => Some(compare_cmp(l, r) as i8),
                            _ => None,
                        })
                        .collect::<Int8Array>(),
                )
            }
            Op::DateRound { millis, months, ceil } => {
                let ms = cast(&a[0].to_array(rows)?, &DataType::Int64)?;
                let ms = ms.as_primitive::<Int64Type>();
                Arc::new(
                    ms.iter().map(|v| v.and_then(|t| date_round(t, *millis, *months, *ceil))).collect::<Int64Array>(),
                )
            }
            Op::Discover { fields, lambda_groups } => discover(fields, lambda_groups, &a[0], &a[1], rows)?,
            Op::Parse { regex, names, groups } => {
                let text = text_array(&a[0], rows)?;
                let mut builders: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
                let mut locations = regex.capture_locations();
                for value in text.iter() {
                    let matched = value.and_then(|v| regex.captures_read(&mut locations, v).map(|_| v));
                    for (i, builder) in builders.iter_mut().enumerate() {
                        match matched.and_then(|v| locations.get(groups[i]).map(|(s, e)| &v[s..e])) {
                            Some(capture) => builder.append_value(capture),
                            None => builder.append_null(),
                        }
                    }
                }
                let fields: Fields = names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect();
                let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
                Arc::new(StructArray::try_new(fields, columns, None)?)
            }
            Op::Glob { glob, names } => {
                let text = text_array(&a[0], rows)?;
                let mut builders: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
                let mut captures = Vec::with_capacity(names.len());
                for value in text.iter() {
                    let matched = value.is_some_and(|v| glob.captures(v, &mut captures));
                    for (i, builder) in builders.iter_mut().enumerate() {
                        match (matched, value) {
                            (true, Some(v)) => builder.append_value(&v[captures[i].clone()]),
                            _ => builder.append_null(),
                        }
                    }
                }
                let fields: Fields = names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect();
                let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
                Arc::new(StructArray::try_new(fields, columns, None)?)
            }
            Op::Ip(check) => {
                let text = text_array(&a[0], rows)?;
                let cidr = if a.len() > 1 { Some(text_array(&a[1], rows)?) } else { None };
                Arc::new(
                    (0..rows)
                        .map(|i| {
                            if text.is_null(i) || cidr.as_ref().is_some_and(|c| c.is_null(i)) {
                                return None;
                            }
                            Some(ip_check(*check, text.value(i), cidr.as_ref().map(|c| c.value(i))))
                        })
                        .collect::<BooleanArray>(),
                )
            }
            Op::JsonParse => {
                let text = text_array(&a[0], rows)?;
                Arc::new(
                    text.iter()
                        .map(|v| {
                            v.and_then(|s| serde_json::from_str::<serde_json::Value>(s.trim()).ok())
                                .map(|j| canonical_json(&j))
                        })
                        .collect::<StringArray>(),
                )
            }
            Op::JsonGet(path) => {
                let text = text_array(&a[0], rows)?;
                Arc::new(text.iter().map(|v| v.and_then(|s| json_get(s, path))).collect::<StringArray>())
            }
            Op::JsonList => {
                let text = text_array(&a[0], rows)?;
                let fields = json_list_fields();
                let mut builder = ListBuilder::new(StructBuilder::from_fields(fields.clone(), rows))
                    .with_field(Arc::new(Field::new_list_field(DataType::Struct(fields), true)));
                for value in text.iter() {
                    let items = match value.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()) {
                        None | Some(serde_json::Value::Null) => {
                            builder.append_null();
                            continue;
                        }
                        Some(serde_json::Value::Array(items)) => items,
                        Some(other) => vec![other],
                    };
                    for (i, item) in items.into_iter().enumerate() {
                        let element = builder.values();
                        element.field_builder::<Int64Builder>(0).expect("index field").append_value(i as i64);
                        element.field_builder::<StringBuilder>(1).expect("value field").append_value(item.to_string());
                        element.append(true);
                    }
                    builder.append(true);
                }
                Arc::new(builder.finish())
            }
            Op::Lookup(names) => {
                let ids = cast(&a[0].to_array(rows)?, &DataType::UInt64)?;
                Arc::new(
                    ids.as_primitive::<UInt64Type>()
                        .iter()
                        .map(|id| id.and_then(|id| names.get(&id).map(String::as_str)))
                        .collect::<StringArray>(),
                )
            }
            Op::StreamNames(_) | Op::StreamMap(_) => {
                let g = cast(&a[0].to_array(rows)?, &DataType::UInt64)?;
                let s = cast(&a[1].to_array(rows)?, &DataType::UInt64)?;
                let (g, s) = (g.as_primitive::<UInt64Type>(), s.as_primitive::<UInt64Type>());
                let looked_up: HashMap<u64, HashMap<u64, String>>;
                let names = match &self.op {
                    Op::StreamMap(names) => names.as_ref(),
                    _ => {
                        let Op::StreamNames(catalog) = &self.op else { unreachable!("matched above") };
                        let mut wanted: HashMap<u64, HashSet<u64>> = HashMap::new();
                        for i in 0..rows {
                            if g.is_valid(i) && s.is_valid(i) {
                                wanted.entry(g.value(i)).or_default().insert(s.value(i));
                            }
                        }
                        looked_up = wanted
                            .into_iter()
                            .map(|(group, ids)| (group, catalog.0.stream_names(group, ids)))
                            .collect();
                        &looked_up
                    }
                };
                Arc::new(
                    (0..rows)
                        .map(|i| {
                            if g.is_null(i) || s.is_null(i) {
                                return None;
                            }
                            names.get(&g.value(i)).and_then(|m| m.get(&s.value(i))).map(String::as_str)
                        })
                        .collect::<StringArray>(),
                )
            }
            Op::Pointer => {
                let column = |i: usize| -> Result<ArrayRef> { Ok(cast(&a[i].to_array(rows)?, &DataType::UInt64)?) };
                let (g, s, q) = (column(0)?, column(1)?, column(2)?);
                let t = cast(&a[3].to_array(rows)?, &DataType::Int64)?;
                let (g, s, q) =
                    (g.as_primitive::<UInt64Type>(), s.as_primitive::<UInt64Type>(), q.as_primitive::<UInt64Type>());
                let t = t.as_primitive::<Int64Type>();
                Arc::new(
                    (0..rows)
                        .map(|i| Some(super::pointer::encode(g.value(i), s.value(i), q.value(i), t.value(i))))
                        .collect::<StringArray>(),
                )
            }
            Op::PatternTemplate => {
                let text = text_array(&a[0], rows)?;
                Arc::new(text.iter().map(|v| v.map(pattern_template)).collect::<StringArray>())
            }
            Op::Severity => {
                let text = text_array(&a[0], rows)?;
                Arc::new(text.iter().map(|v| v.map(severity)).collect::<StringArray>())
            }
        };
        if out.len() != rows {
            return exec_err!("{} produced {} rows for {rows}", self.name, out.len());
        }
        Ok(ColumnarValue::Array(out))
    }
}

fn discover(
    fields: &[(String, DataType)],
    lambda_groups: &HashSet<u64>,
    messages: &ColumnarValue,
    groups: &ColumnarValue,
    rows: usize,
) -> Result<ArrayRef> {
    let messages = text_array(messages, rows)?;
    let groups = cast(&groups.to_array(rows)?, &DataType::UInt64)?;
    let groups = groups.as_primitive::<UInt64Type>();
    let wants_json = fields.iter().any(|(name, _)| fluoro_proto::fields::lambda_field_is_number(name).is_none());
    let wants_lambda = fields.iter().any(|(name, _)| fluoro_proto::fields::lambda_field_is_number(name).is_some());
    let index: HashMap<&str, usize> = fields.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
    let mut text: Vec<Vec<Option<String>>> = fields.iter().map(|_| Vec::with_capacity(rows)).collect();
    let mut numbers: Vec<Vec<Option<f64>>> = fields.iter().map(|_| Vec::new()).collect();
    let mut row_values: Vec<Option<LambdaValue>> = vec![None; fields.len()];
    for i in 0..rows {
        row_values.iter_mut().for_each(|v| *v = None);
        if messages.is_valid(i) {
            let message = messages.value(i);
            if wants_lambda {
                for (name, value) in lambda_fields(message) {
                    if let Some(&slot) = index.get(name) {
                        row_values[slot] = Some(value);
                    }
                }
            }
            if wants_json {
                let lambda_group = groups.is_valid(i) && lambda_groups.contains(&groups.value(i));
                for (name, value) in discover_json(message, lambda_group) {
                    if let Some(&slot) = index.get(name.as_str())
                        && row_values[slot].is_none()
                    {
                        row_values[slot] = Some(LambdaValue::Text(value));
                    }
                }
            }
        }
        for (slot, (_, data_type)) in fields.iter().enumerate() {
            let value = row_values[slot].take();
            if *data_type == DataType::Float64 {
                numbers[slot].push(match value {
                    Some(LambdaValue::Number(n)) => Some(n),
                    Some(LambdaValue::Text(t)) => numeric_looking(&t),
                    None => None,
                });
            } else {
                text[slot].push(match value {
                    Some(LambdaValue::Text(t)) => Some(t),
                    Some(LambdaValue::Number(n)) => format_number(n),
                    None => None,
                });
            }
        }
    }
    let struct_fields: Fields = fields.iter().map(|(n, t)| Field::new(n, t.clone(), true)).collect();
    let columns: Vec<ArrayRef> = fields
        .iter()
        .enumerate()
        .map(|(slot, (_, data_type))| -> ArrayRef {
            if *data_type == DataType::Float64 {
                Arc::new(Float64Array::from(std::mem::take(&mut numbers[slot])))
            } else {
                Arc::new(StringArray::from(std::mem::take(&mut text[slot])))
            }
        })
        .collect();
    if columns.is_empty() {
        return Ok(Arc::new(StructArray::new_empty_fields(rows, None)));
    }
    Ok(Arc::new(StructArray::try_new(struct_fields, columns, None)?))
}

/// A `parse` glob: literal parts between `*` captures. Matching is the regex semantics of
/// §4.8 (leftmost match, each capture lazy except a final `*`), found with memmem: the first
/// occurrence of each part after the previous one is the leftmost-shortest choice, because a
/// later occurrence can only leave less text for the parts after it.
#[derive(Debug)]
pub struct GlobMatcher {
    /// The glob as written.
    source: String,
    parts: Vec<memchr::memmem::Finder<'static>>,
    /// Whether the glob ends with `*` (that capture takes the rest of the text).
    greedy_tail: bool,
}

impl GlobMatcher {
    pub fn new(glob: &str) -> Self {
        let parts = glob.split('*').map(|p| memchr::memmem::Finder::new(p.as_bytes()).into_owned()).collect();
        Self { source: glob.to_owned(), parts, greedy_tail: glob.ends_with('*') }
    }

    /// Fills `out` with the byte ranges of the captures; false when the glob does not match.
    pub fn captures(&self, text: &str, out: &mut Vec<std::ops::Range<usize>>) -> bool {
        out.clear();
        let bytes = text.as_bytes();
        let Some((first, rest)) = self.parts.split_first() else { return false };
        let Some(start) = first.find(bytes) else { return false };
        let mut at = start + first.needle().len();
        let last = rest.len().saturating_sub(1);
        for (i, part) in rest.iter().enumerate() {
            if i == last && self.greedy_tail {
                out.push(at..bytes.len());
                return true;
            }
            let Some(found) = part.find(&bytes[at..]) else { return false };
            out.push(at..at + found);
            at += found + part.needle().len();
        }
        true
    }
}

/// The element type of `JsonList`: position in the list and the element's JSON.
pub fn json_list_fields() -> Fields {
    Fields::from(vec![Field::new("i", DataType::Int64, false), Field::new("v", DataType::Utf8, true)])
}

/// The text form of a JSON value: strings unquoted, everything else compact JSON.
pub fn json_text(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => s,
        _ => json.to_owned(),
    }
}

fn json_get(json: &str, path: &[String]) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    for segment in path {
        value = match value {
            serde_json::Value::Object(mut map) => map.remove(segment)?,
            serde_json::Value::Array(mut items) => {
                let index: usize = segment.parse().ok()?;
                if index >= items.len() {
                    return None;
                }
                items.swap_remove(index)
            }
            _ => return None,
        };
    }
    (!value.is_null()).then(|| canonical_json(&value))
}

/// Compact JSON with object keys sorted at every level: parsed values print the same whatever
/// order their document had (serde_json keeps insertion order in this workspace).
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                serde_json::Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Floors (or ceils) epoch ms to a period of `millis`, or of `months` calendar months (UTC).
/// Weeks start on Monday.
pub fn date_round(ms: i64, millis: i64, months: i64, ceil: bool) -> Option<i64> {
    if millis > 0 {
        // 1970-01-01 was a Thursday: weeks are aligned to Monday 1970-01-05.
        let offset = if millis % (7 * 86_400_000) == 0 { 4 * 86_400_000 } else { 0 };
        let floor = (ms - offset).div_euclid(millis) * millis + offset;
        return Some(if ceil && floor != ms { floor + millis } else { floor });
    }
    if months <= 0 {
        return None;
    }
    let t = chrono::Utc.timestamp_millis_opt(ms).single()?;
    let index = t.year() as i64 * 12 + t.month0() as i64;
    let floored = index.div_euclid(months) * months;
    let start = |index: i64| {
        chrono::Utc
            .with_ymd_and_hms(index.div_euclid(12) as i32, index.rem_euclid(12) as u32 + 1, 1, 0, 0, 0)
            .single()
            .map(|d| d.timestamp_millis())
    };
    let floor = start(floored)?;
    if ceil && floor != ms { start(floored + months) } else { Some(floor) }
}

fn ip_check(check: IpCheck, text: &str, cidr: Option<&str>) -> bool {
    let Ok(addr) = text.parse::<IpAddr>() else { return false };
    let subnet = || -> Option<(IpAddr, u8)> {
        let (net, bits) = cidr?.split_once('/')?;
        Some((net.parse().ok()?, bits.parse().ok()?))
    };
    match check {
        IpCheck::Any => true,
        IpCheck::V4 => addr.is_ipv4(),
        IpCheck::V6 => addr.is_ipv6(),
        IpCheck::InSubnet | IpCheck::V4InSubnet | IpCheck::V6InSubnet => {
            let Some((net, bits)) = subnet() else { return false };
            match (addr, net) {
                (IpAddr::V4(a), IpAddr::V4(n)) if check != IpCheck::V6InSubnet && bits <= 32 => {
                    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                    u32::from(a) & mask == u32::from(n) & mask
                }
                (IpAddr::V6(a), IpAddr::V6(n)) if check != IpCheck::V4InSubnet && bits <= 128 => {
                    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
                    u128::from(a) & mask == u128::from(n) & mask
                }
                _ => false,
            }
        }
    }
}

/// Drain-style template: tokens with digits (numbers, ids, hex, IPs, timestamps) become `<*>`.
pub fn pattern_template(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, token) in text.split([' ', '\t', '\n']).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if token.is_empty() {
            continue;
        }
        let variable = token.bytes().any(|b| b.is_ascii_digit()) || looks_hex(token);
        if variable {
            // Keep surrounding punctuation such as quotes and brackets.
            let lead = token.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
            let tail = token.rfind(|c: char| c.is_alphanumeric()).map_or(token.len(), |i| i + 1);
            out.push_str(&token[..lead]);
            out.push_str("<*>");
            out.push_str(&token[tail..]);
        } else {
            out.push_str(token);
        }
    }
    out
}

fn looks_hex(token: &str) -> bool {
    token.len() >= 8 && token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn severity(template: &str) -> String {
    let upper = template.to_ascii_uppercase();
    let label = if ["ERROR", "FATAL", "EXCEPTION", "CRITICAL", "FAIL"].iter().any(|k| upper.contains(k)) {
        "Error"
    } else if upper.contains("WARN") {
        "Warning"
    } else if upper.contains("INFO") {
        "Info"
    } else if upper.contains("DEBUG") || upper.contains("TRACE") {
        "Debug"
    } else {
        "Unknown"
    };
    label.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_dates() {
        let t = 1714565190000; // 2024-05-01 12:06:30
        assert_eq!(date_round(t, 3_600_000, 0, false), Some(1714564800000));
        assert_eq!(date_round(t, 60_000, 0, true), Some(1714565220000));
        assert_eq!(date_round(1714564800000, 60_000, 0, true), Some(1714564800000));
        // Weeks start on Monday: 2024-04-29.
        assert_eq!(date_round(t, 7 * 86_400_000, 0, false), Some(1714348800000));
        assert_eq!(date_round(t, 0, 1, false), Some(1714521600000)); // 2024-05-01
        assert_eq!(date_round(t, 0, 3, false), Some(1711929600000)); // 2024-04-01
        assert_eq!(date_round(t, 0, 12, true), Some(1735689600000)); // 2025-01-01
    }

    #[test]
    fn ip_checks() {
        assert!(ip_check(IpCheck::V4InSubnet, "10.0.2.9", Some("10.0.0.0/16")));
        assert!(!ip_check(IpCheck::V4InSubnet, "192.168.1.20", Some("10.0.0.0/16")));
        assert!(!ip_check(IpCheck::V4InSubnet, "2001:db8::1", Some("10.0.0.0/16")));
        assert!(ip_check(IpCheck::InSubnet, "2001:db8::1", Some("2001:db8::/32")));
        assert!(ip_check(IpCheck::V6, "2001:db8::1", None));
        assert!(!ip_check(IpCheck::Any, "10.0.0.1:80", None));
        assert!(!ip_check(IpCheck::Any, "10.0.0.0/8", None));
    }

    #[test]
    fn templates() {
        assert_eq!(pattern_template("user 42 logged in from 10.0.0.1"), "user <*> logged in from <*>");
        assert_eq!(severity("ERROR connection <*>"), "Error");
        assert_eq!(json_text("\"a\\\"b\""), "a\"b");
        assert_eq!(json_text("{\"a\":1}"), "{\"a\":1}");
        assert_eq!(
            json_get("{\"items\":[{\"sku\":\"A1\"}]}", &["items".into(), "0".into(), "sku".into()]).unwrap(),
            "\"A1\""
        );
    }
}

#[cfg(test)]
mod wire_tests {
    use datafusion::arrow::array::{FixedSizeBinaryArray, UInt64Array};
    use datafusion::common::config::ConfigOptions;
    use datafusion::logical_expr::expr::ScalarFunction;

    use super::*;

    /// Calls `udf` on `args` (arrays of one length).
    fn invoke(udf: &ScalarUDF, args: &[ArrayRef]) -> ArrayRef {
        let rows = args[0].len();
        let fields = args
            .iter()
            .enumerate()
            .map(|(i, a)| Arc::new(Field::new(format!("a{i}"), a.data_type().clone(), true)))
            .collect::<Vec<_>>();
        let ret = udf.return_type(&args.iter().map(|a| a.data_type().clone()).collect::<Vec<_>>()).unwrap();
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: args.iter().map(|a| ColumnarValue::Array(a.clone())).collect(),
                arg_fields: fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("out", ret, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        out.to_array(rows).unwrap()
    }

    fn function(expr: Expr) -> Arc<ScalarUDF> {
        let Expr::ScalarFunction(ScalarFunction { func, .. }) = expr else { panic!("not a function call") };
        func
    }

    /// Each function computes the same after a trip through the wire form a distributed plan
    /// carries it in.
    #[test]
    fn functions_survive_the_wire() {
        let col = || Expr::Column(datafusion::common::Column::new_unqualified("m"));
        let messages: ArrayRef = Arc::new(StringArray::from(vec![
            Some("user=ann took 12 ms {\"a\":{\"b\":[1,2]}}"),
            Some("user=bob took 7.5 ms"),
            None,
            Some("{\"level\":\"error\",\"n\":3}"),
        ]));
        let regex = Regex::new("user=(?<user>\\w+) took (?<ms>\\S+)").unwrap();
        let cases: Vec<(Expr, Vec<ArrayRef>)> = vec![
            (
                InsightsUdf::call(
                    "insights_parse",
                    "r".into(),
                    Op::Parse { regex, names: vec!["user".into(), "ms".into()], groups: vec![1, 2] },
                    DataType::Struct(Fields::from(vec![
                        Field::new("user", DataType::Utf8, true),
                        Field::new("ms", DataType::Utf8, true),
                    ])),
                    vec![col()],
                ),
                vec![messages.clone()],
            ),
            (
                InsightsUdf::call(
                    "insights_glob",
                    "g".into(),
                    Op::Glob { glob: GlobMatcher::new("user=* took *"), names: vec!["u".into(), "rest".into()] },
                    DataType::Struct(Fields::from(vec![
                        Field::new("u", DataType::Utf8, true),
                        Field::new("rest", DataType::Utf8, true),
                    ])),
                    vec![col()],
                ),
                vec![messages.clone()],
            ),
            (
                InsightsUdf::call(
                    "insights_json",
                    "j".into(),
                    Op::JsonGet(vec!["level".into()]),
                    DataType::Utf8,
                    vec![col()],
                ),
                vec![messages.clone()],
            ),
            (
                InsightsUdf::call("insights_template", String::new(), Op::PatternTemplate, DataType::Utf8, vec![col()]),
                vec![messages.clone()],
            ),
            (
                InsightsUdf::call(
                    "insights_streams",
                    "s".into(),
                    Op::StreamMap(Arc::new(HashMap::from([(1, HashMap::from([(7, "seven".to_owned())]))]))),
                    DataType::Utf8,
                    vec![col(), col()],
                ),
                vec![Arc::new(UInt64Array::from(vec![1, 1, 2])), Arc::new(UInt64Array::from(vec![7, 8, 7]))],
            ),
            (
                InsightsUdf::call(
                    "insights_lookup",
                    "l".into(),
                    Op::Lookup(Arc::new(HashMap::from([(1, "one".to_owned())]))),
                    DataType::Utf8,
                    vec![col()],
                ),
                vec![Arc::new(UInt64Array::from(vec![1, 2]))],
            ),
            (
                InsightsUdf::call(
                    "insights_round",
                    "d".into(),
                    Op::DateRound { millis: 0, months: 3, ceil: false },
                    DataType::Int64,
                    vec![col()],
                ),
                vec![Arc::new(Int64Array::from(vec![1714565190000, 0]))],
            ),
            (
                InsightsUdf::call(
                    "insights_trace",
                    "x".into(),
                    Op::TraceText { xray: true },
                    DataType::Utf8,
                    vec![col()],
                ),
                vec![Arc::new(FixedSizeBinaryArray::try_from_iter([[7u8; 16], [9u8; 16]].into_iter()).unwrap())],
            ),
        ];
        for (expr, args) in cases {
            let original = function(expr);
            let insights = (original.inner().as_ref() as &dyn std::any::Any).downcast_ref::<InsightsUdf>().unwrap();
            let decoded = InsightsUdf::decode(&insights.encode().unwrap()).unwrap();
            assert_eq!(decoded.name(), original.name());
            let before = invoke(&original, &args);
            let after = invoke(&decoded, &args);
            assert_eq!(before.as_ref(), after.as_ref(), "{}", original.name());
        }
    }
}

#[cfg(test)]
mod glob_tests {
    use super::*;

    /// The glob matcher agrees with the regex a glob stands for (§4.8).
    fn both(glob: &str, text: &str) -> (Option<Vec<String>>, Option<Vec<String>>) {
        let matcher = GlobMatcher::new(glob);
        let mut ranges = Vec::new();
        let by_glob =
            matcher.captures(text, &mut ranges).then(|| ranges.iter().map(|r| text[r.clone()].to_owned()).collect());
        let regex = Regex::new(&super::super::parser::glob_to_regex(glob)).unwrap();
        let by_regex = regex
            .captures(text)
            .map(|c| c.iter().skip(1).map(|m| m.map_or(String::new(), |m| m.as_str().to_owned())).collect());
        (by_glob, by_regex)
    }

    #[test]
    fn spec_example() {
        let (glob, regex) = both(
            "[*] * The error was: *",
            "25 May 2019 10:24:39,474 [ERROR] {foo=2, bar=data} The error was: DataIntegrityException",
        );
        assert_eq!(glob, Some(vec!["ERROR".into(), "{foo=2, bar=data}".into(), "DataIntegrityException".into()]));
        assert_eq!(glob, regex);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_regex(glob in "[ab*:]{1,6}", text in "[ab:\n]{0,12}") {
            proptest::prop_assume!(glob.contains('*'));
            let (by_glob, by_regex) = both(&glob, &text);
            proptest::prop_assert_eq!(by_glob, by_regex, "glob {:?} text {:?}", glob, text);
        }
    }
}
