//! CloudWatch metrics: series identity, samples, PutMetricData's rules, statistics and the
//! read grid (spec metrics-alarms.md §2).

pub mod otlp;
pub mod put;
pub mod schema;
pub mod sketch;
pub mod stats;

use sha2::{Digest, Sha256};

/// The 27 units of the model's `StandardUnit`; a sample stores the index.
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

pub const UNIT_NONE: u8 = 26;

pub fn unit_index(name: &str) -> Option<u8> {
    UNITS.iter().position(|u| *u == name).map(|i| i as u8)
}

pub fn unit_name(index: u8) -> &'static str {
    UNITS.get(index as usize).copied().unwrap_or("None")
}

/// A metric's identity: namespace, name and the dimension *set*, kept sorted by name (§2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct SeriesKey {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl SeriesKey {
    /// Sorts the dimensions into canonical order.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, mut dimensions: Vec<(String, String)>) -> Self {
        dimensions.sort();
        Self { namespace: namespace.into(), name: name.into(), dimensions }
    }

    /// A stable 64-bit id: the first 8 bytes of SHA-256 over the length-prefixed parts.
    pub fn id(&self) -> u64 {
        let mut hasher = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u32).to_le_bytes());
            hasher.update(bytes);
        };
        part(self.namespace.as_bytes());
        part(self.name.as_bytes());
        for (name, value) in &self.dimensions {
            part(name.as_bytes());
            part(value.as_bytes());
        }
        let digest = hasher.finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One stored sample: a weighted value (`count` copies of `min`, with `sum = min·count`) or a
/// statistic set. Timestamps are floored to the second or minute by resolution (§2.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub series: u64,
    pub timestamp_ms: i64,
    pub unit: u8,
    /// Seconds: 1 or 60 for stored samples, 300 or 3600 for rollup rows.
    pub resolution: u16,
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// From `StatisticValues` (percentile-eligible only in the cases of §2.3.2).
    pub is_set: bool,
}

impl Sample {
    pub fn value(series: u64, timestamp_ms: i64, unit: u8, resolution: u16, value: f64, count: f64) -> Self {
        Self {
            series,
            timestamp_ms: floor_to_resolution(timestamp_ms, resolution),
            unit,
            resolution,
            count,
            sum: value * count,
            min: value,
            max: value,
            is_set: false,
        }
    }

    /// Whether the sample can take part in rank-based statistics, as `count` copies of `min`.
    pub fn percentile_eligible(&self) -> bool {
        !self.is_set
            || (self.count == 1.0 && self.min == self.max && self.max == self.sum)
            || (self.min == self.max && self.sum == self.min * self.count)
    }
}

pub fn floor_to_resolution(timestamp_ms: i64, resolution: u16) -> i64 {
    let step = i64::from(resolution.max(1)) * 1000;
    timestamp_ms.div_euclid(step) * step
}

/// A sample with the identity it belongs to, as producers hand them to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedSample {
    pub key: std::sync::Arc<SeriesKey>,
    pub sample: Sample,
}

/// How far a datapoint may lie in the past and in the future of the server's time (§2.2, §5):
/// PutMetricData refuses others, OTLP, metric filters and EMF drop them.
pub const MAX_AGE_MS: i64 = 14 * 86_400_000;
pub const MAX_FUTURE_MS: i64 = 2 * 3_600_000;

/// Whether a datapoint at `timestamp_ms` is inside that window.
pub fn in_window(timestamp_ms: i64, now_ms: i64) -> bool {
    (now_ms - MAX_AGE_MS..=now_ms + MAX_FUTURE_MS).contains(&timestamp_ms)
}

/// Valid read periods (§2.4.1): 1, 5, 10, 20, 30 or a positive multiple of 60.
pub fn valid_period(period: i64) -> bool {
    matches!(period, 1 | 5 | 10 | 20 | 30) || (period > 0 && period % 60 == 0)
}

/// The rounded start of the read grid (§2.4.2), all in ms.
pub fn grid_start(start_ms: i64, period_s: i64, now_ms: i64) -> i64 {
    let age = now_ms - start_ms;
    const DAY: i64 = 86_400_000;
    let step = if age > 63 * DAY {
        3_600_000
    } else if age >= 15 * DAY {
        300_000
    } else {
        60_000
    };
    let mut start = start_ms.div_euclid(step) * step;
    if period_s < 60 && step == 60_000 {
        let p = period_s * 1000;
        start = start_ms.div_euclid(p) * p;
    }
    start
}

/// `1,441`: thousands separators, as AWS messages write counts.
pub fn with_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_ignores_dimension_order() {
        let a = SeriesKey::new("N", "m", vec![("b".into(), "2".into()), ("a".into(), "1".into())]);
        let b = SeriesKey::new("N", "m", vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), SeriesKey::new("N", "m", vec![]).id());
        assert_ne!(SeriesKey::new("N", "ab", vec![]).id(), SeriesKey::new("Na", "b", vec![]).id());
    }

    #[test]
    fn grid_rounding_by_age_and_period() {
        let now = 1_736_942_400_000; // 2025-01-15T12:00:00Z
        assert_eq!(grid_start(now - 3_601_234, 60, now), now - 3_660_000);
        assert_eq!(grid_start(now - 25_000, 10, now), now - 30_000);
        assert_eq!(grid_start(now - 16 * 86_400_000 - 61_000, 300, now), now - 16 * 86_400_000 - 300_000);
        assert_eq!(with_thousands(1441), "1,441");
        assert_eq!(with_thousands(100), "100");
        assert_eq!(with_thousands(1_234_567), "1,234,567");
    }
}
