//! `pct(f, p)`: the exact nearest-rank percentile of §7 (index `ceil(p/100·n) − 1`, clamped),
//! as a DataFusion aggregate. Partial states are the raw values, merged before sorting.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
struct NearestRank {
    /// The percentile's bits (f64 is neither Eq nor Hash).
    p_bits: u64,
    signature: Signature,
}

pub fn pct_udaf(p: f64) -> AggregateUDF {
    AggregateUDF::new_from_impl(NearestRank {
        p_bits: p.to_bits(),
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    })
}

/// The wire form of a `pct` aggregate (its percentile's bits), or `None` for another one.
pub(crate) fn encode(udaf: &AggregateUDF) -> Option<Vec<u8>> {
    let rank = (udaf.inner().as_ref() as &dyn std::any::Any).downcast_ref::<NearestRank>()?;
    Some(rank.p_bits.to_le_bytes().to_vec())
}

/// Reads back what [`encode`] wrote.
pub(crate) fn decode(bytes: &[u8]) -> Result<AggregateUDF> {
    let bits: [u8; 8] = bytes
        .try_into()
        .map_err(|_| datafusion::error::DataFusionError::Internal("a pct aggregate takes 8 bytes".to_owned()))?;
    Ok(pct_udaf(f64::from_bits(u64::from_le_bytes(bits))))
}

impl AggregateUDFImpl for NearestRank {
    fn name(&self) -> &str {
        "insights_pct"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Values { p: f64::from_bits(self.p_bits), values: Vec::new() }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = Arc::new(Field::new_list_field(DataType::Float64, true));
        Ok(vec![Arc::new(Field::new(format!("{}_values", args.name), DataType::List(item), true))])
    }
}

#[derive(Debug)]
struct Values {
    p: f64,
    values: Vec<f64>,
}

impl Accumulator for Values {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = values[0].as_primitive::<Float64Type>();
        self.values.extend(array.iter().flatten().filter(|v| v.is_finite()));
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.values.is_empty() {
            return Ok(ScalarValue::Float64(None));
        }
        self.values.sort_by(f64::total_cmp);
        let n = self.values.len();
        let rank = ((self.p / 100.0) * n as f64).ceil() as i64 - 1;
        let index = rank.clamp(0, n as i64 - 1) as usize;
        Ok(ScalarValue::Float64(Some(self.values[index])))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.values.capacity() * std::mem::size_of::<f64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self.values.iter().map(|v| ScalarValue::Float64(Some(*v))).collect();
        Ok(vec![ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Float64))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                let values = lists.value(i);
                self.values.extend(values.as_primitive::<Float64Type>().iter().flatten());
            }
        }
        Ok(())
    }
}
