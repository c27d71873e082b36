//! A mergeable quantile sketch for rollup rows (DDSketch's log-spaced buckets): any quantile of
//! the merged values is within 1 % of the exact value (spec metrics-alarms.md §2.3.2).

use std::collections::BTreeMap;

/// Relative accuracy.
const ALPHA: f64 = 0.01;
/// Magnitudes below this count as zero.
const MIN_MAGNITUDE: f64 = 1e-9;

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    positive: BTreeMap<i32, f64>,
    negative: BTreeMap<i32, f64>,
    zero: f64,
}

fn index(magnitude: f64) -> i32 {
    (magnitude.ln() / gamma().ln()).ceil() as i32
}

/// The value a bucket stands for: within ALPHA of every value in it.
fn representative(index: i32) -> f64 {
    let g = gamma();
    2.0 * g.powi(index) / (g + 1.0)
}

impl Sketch {
    pub fn add(&mut self, value: f64, count: f64) {
        if count <= 0.0 || !value.is_finite() {
            return;
        }
        if value.abs() < MIN_MAGNITUDE {
            self.zero += count;
        } else if value > 0.0 {
            *self.positive.entry(index(value)).or_default() += count;
        } else {
            *self.negative.entry(index(-value)).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (i, c) in &other.positive {
            *self.positive.entry(*i).or_default() += c;
        }
        for (i, c) in &other.negative {
            *self.negative.entry(*i).or_default() += c;
        }
        self.zero += other.zero;
    }

    pub fn count(&self) -> f64 {
        self.zero + self.positive.values().sum::<f64>() + self.negative.values().sum::<f64>()
    }

    /// The sketch as ascending weighted values (bucket representatives), for the rank-based
    /// statistics of `stats::Bucket`.
    pub fn weighted_values(&self) -> Vec<(f64, f64)> {
        let mut out: Vec<(f64, f64)> = self.negative.iter().rev().map(|(i, c)| (-representative(*i), *c)).collect();
        if self.zero > 0.0 {
            out.push((0.0, self.zero));
        }
        out.extend(self.positive.iter().map(|(i, c)| (representative(*i), *c)));
        out
    }

    /// `u32 n_pos, n_neg; f64 zero; n × (i32 index, f64 count)` little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 12 * (self.positive.len() + self.negative.len()));
        out.extend_from_slice(&(self.positive.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.negative.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.zero.to_le_bytes());
        for (i, c) in self.positive.iter().chain(self.negative.iter()) {
            out.extend_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
        let (n_pos, n_neg) = (u32_at(0)? as usize, u32_at(4)? as usize);
        if bytes.len() != 16 + 12 * (n_pos + n_neg) {
            return None;
        }
        let zero = f64::from_le_bytes(bytes[8..16].try_into().ok()?);
        let mut sketch = Sketch { zero, ..Default::default() };
        for k in 0..n_pos + n_neg {
            let at = 16 + 12 * k;
            let i = i32::from_le_bytes(bytes[at..at + 4].try_into().ok()?);
            let c = f64::from_le_bytes(bytes[at + 4..at + 12].try_into().ok()?);
            if k < n_pos {
                sketch.positive.insert(i, c);
            } else {
                sketch.negative.insert(i, c);
            }
        }
        Some(sketch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::stats::{Bucket, Stat};

    #[test]
    fn quantiles_within_one_percent_and_merge() {
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        let mut exact = Bucket::default();
        for i in 1..=10_000 {
            let v = (i as f64).powf(1.3) - 50.0;
            if i % 2 == 0 {
                a.add(v, 1.0)
            } else {
                b.add(v, 1.0)
            }
            exact.add(&crate::metrics::Sample::value(1, 0, 0, 60, v, 1.0));
        }
        a.merge(&b);
        let restored = Sketch::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(restored, a);
        let mut approx = Bucket { count: a.count(), values: a.weighted_values(), ..Default::default() };
        approx.sum = 1.0;
        for q in ["p1", "p10", "p50", "p90", "p99", "p99.9"] {
            let stat = Stat::parse(q).unwrap();
            let (e, s) = (exact.value(&stat).unwrap(), approx.value(&stat).unwrap());
            assert!((s - e).abs() <= 0.01 * e.abs() + 1e-9, "{q}: exact {e}, sketch {s}");
        }
        assert_eq!(a.count(), 10_000.0);
        assert!(Sketch::from_bytes(&[1, 2, 3]).is_none());
    }
}
