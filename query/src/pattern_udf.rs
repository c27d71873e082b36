//! A filter pattern as a DataFusion scalar function, so pattern matching runs inside the plan
//! (below sort and limit) instead of after it.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use fluoro_proto::filter::FilterPattern;

#[derive(Debug)]
pub(crate) struct PatternUdf {
    source: String,
    pattern: Arc<FilterPattern>,
    signature: Signature,
}

impl PatternUdf {
    pub(crate) fn udf(source: &str, pattern: Arc<FilterPattern>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            source: source.to_owned(),
            pattern,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        })
    }
}

impl PartialEq for PatternUdf {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for PatternUdf {}

impl Hash for PatternUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl ScalarUDFImpl for PatternUdf {
    fn name(&self) -> &str {
        "filter_pattern_matches"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Array(array) => {
                let messages = array.as_string::<i32>();
                let matched: BooleanArray =
                    messages.iter().map(|m| Some(m.is_some_and(|m| self.pattern.matches(m)))).collect();
                debug_assert_eq!(matched.len(), messages.len());
                Ok(ColumnarValue::Array(Arc::new(matched)))
            }
            ColumnarValue::Scalar(ScalarValue::Utf8(m)) => Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(
                m.as_deref().is_some_and(|m| self.pattern.matches(m)),
            )))),
            other => exec_err!("filter_pattern_matches expects a string, got {other:?}"),
        }
    }
}
