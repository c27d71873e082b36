//! Statistics over one bucket of samples (spec metrics-alarms.md §2.3): names, and the values
//! they take — exact, from the weighted values the store keeps.

use super::Sample;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    SampleCount,
    Sum,
    Average,
    Minimum,
    Maximum,
    /// `pX`: nearest rank.
    Percentile(f64),
    /// `TM`, `WM`, `TC`, `TS` or `PR` over a window.
    Window(WindowKind, Bounds),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    TrimmedMean,
    WinsorizedMean,
    TrimmedCount,
    TrimmedSum,
    PercentRank,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bounds {
    /// Percent bounds `a%:b%` (missing = 0 / 100).
    Percent(Option<f64>, Option<f64>),
    /// Absolute bounds `x:y`, `x < v ≤ y` (missing = unbounded).
    Absolute(Option<f64>, Option<f64>),
}

pub const BASIC: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// A percent in 0–100 with at most 10 decimals.
fn percent(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_ok = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 10
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(text.contains('.') && fraction.is_empty());
    let value: f64 = text.parse().ok()?;
    (digits_ok && (0.0..=100.0).contains(&value)).then_some(value)
}

fn absolute(text: &str) -> Option<f64> {
    let ok =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !ok {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl Stat {
    /// Parses a statistic name (§2.3.1); case-sensitive.
    pub fn parse(text: &str) -> Option<Self> {
        use WindowKind::*;
        Some(match text {
            "SampleCount" => Self::SampleCount,
            "Sum" => Self::Sum,
            "Average" => Self::Average,
            "Minimum" => Self::Minimum,
            "Maximum" => Self::Maximum,
            "IQM" => Self::Window(TrimmedMean, Bounds::Percent(Some(25.0), Some(75.0))),
            _ => {
                if let Some(open) = text.find('(') {
                    let kind = match &text[..open] {
                        "TM" => TrimmedMean,
                        "WM" => WinsorizedMean,
                        "TC" => TrimmedCount,
                        "TS" => TrimmedSum,
                        "PR" => PercentRank,
                        _ => return None,
                    };
                    let inner = text[open + 1..].strip_suffix(')')?;
                    let (lo, hi) = inner.split_once(':')?;
                    if lo.is_empty() && hi.is_empty() {
                        return None;
                    }
                    let percent_form = lo.ends_with('%') || hi.ends_with('%');
                    let bounds = if percent_form {
                        if kind == PercentRank {
                            return None;
                        }
                        let side = |s: &str| -> Option<Option<f64>> {
                            if s.is_empty() { Some(None) } else { percent(s.strip_suffix('%')?).map(Some) }
                        };
                        let (a, b) = (side(lo)?, side(hi)?);
                        if let (Some(a), Some(b)) = (a, b)
                            && a > b
                        {
                            return None;
                        }
                        Bounds::Percent(a, b)
                    } else {
                        let side = |s: &str| -> Option<Option<f64>> {
                            if s.is_empty() { Some(None) } else { absolute(s).map(Some) }
                        };
                        Bounds::Absolute(side(lo)?, side(hi)?)
                    };
                    Self::Window(kind, bounds)
                } else {
                    let split = text.find(|c: char| c.is_ascii_digit())?;
                    let value = percent(&text[split..])?;
                    let upper = Some(value);
                    match &text[..split] {
                        "p" => Self::Percentile(value),
                        "tm" => Self::Window(TrimmedMean, Bounds::Percent(None, upper)),
                        "wm" => Self::Window(WinsorizedMean, Bounds::Percent(None, upper)),
                        "tc" => Self::Window(TrimmedCount, Bounds::Percent(None, upper)),
                        "ts" => Self::Window(TrimmedSum, Bounds::Percent(None, upper)),
                        _ => return None,
                    }
                }
            }
        })
    }

    pub fn is_basic(&self) -> bool {
        matches!(self, Self::SampleCount | Self::Sum | Self::Average | Self::Minimum | Self::Maximum)
    }
}

/// The samples of one bucket, accumulated.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Weighted values for rank-based statistics.
    pub values: Vec<(f64, f64)>,
    /// A statistic set that is not percentile-eligible was added.
    pub ineligible: bool,
}

impl Bucket {
    /// Count, sum, minimum and maximum of `sample` merged in; `false` for an empty one.
    fn merge_basic(&mut self, sample: &Sample) -> bool {
        if sample.count <= 0.0 {
            return false;
        }
        if self.count == 0.0 {
            self.min = sample.min;
            self.max = sample.max;
        } else {
            self.min = self.min.min(sample.min);
            self.max = self.max.max(sample.max);
        }
        self.count += sample.count;
        self.sum += sample.sum;
        true
    }

    pub fn add(&mut self, sample: &Sample) {
        if !self.merge_basic(sample) {
            return;
        }
        if sample.percentile_eligible() {
            self.values.push((sample.min, sample.count));
        } else {
            self.ineligible = true;
        }
    }

    /// A rollup row: exact basic statistics, and its sketch's values for rank-based ones (no
    /// sketch: a statistic set made the row ineligible).
    pub fn add_rollup(&mut self, row: &Sample, sketch: Option<&super::sketch::Sketch>) {
        if !self.merge_basic(row) {
            return;
        }
        match sketch {
            Some(sketch) => self.values.extend(sketch.weighted_values()),
            None => self.ineligible = true,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count <= 0.0
    }

    /// The statistic's value, or `None` when the bucket has none (§2.3.2).
    pub fn value(&mut self, stat: &Stat) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        match stat {
            Stat::SampleCount => return Some(self.count),
            Stat::Sum => return Some(self.sum),
            Stat::Average => return Some(self.sum / self.count),
            Stat::Minimum => return Some(self.min),
            Stat::Maximum => return Some(self.max),
            _ => {}
        }
        if self.ineligible || self.values.is_empty() {
            return None;
        }
        self.values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n: f64 = self.values.iter().map(|(_, c)| c).sum();
        match *stat {
            Stat::Percentile(x) => {
                let rank = (x / 100.0 * n).ceil().clamp(1.0, n);
                let mut seen = 0.0;
                for (v, c) in &self.values {
                    seen += c;
                    if seen >= rank {
                        return Some(*v);
                    }
                }
                self.values.last().map(|(v, _)| *v)
            }
            Stat::Window(kind, bounds) => window(&self.values, n, kind, bounds),
            _ => None,
        }
    }
}

/// Rank or value windows over sorted weighted values.
fn window(values: &[(f64, f64)], n: f64, kind: WindowKind, bounds: Bounds) -> Option<f64> {
    // For each value: the weight kept, and the weight below / above the window.
    let mut kept_weight = 0.0;
    let mut kept_sum = 0.0;
    let mut below = 0.0;
    let mut above = 0.0;
    let mut kept_min = f64::NAN;
    let mut kept_max = f64::NAN;
    let mut before = 0.0;
    for &(v, c) in values {
        let after = before + c;
        let (keep, under, over) = match bounds {
            Bounds::Percent(a, b) => {
                let lo = (a.unwrap_or(0.0) / 100.0 * n).ceil();
                let hi = (b.unwrap_or(100.0) / 100.0 * n).ceil();
                let keep = (after.min(hi) - before.max(lo)).max(0.0);
                let under = (lo.min(after) - before).max(0.0);
                (keep, under, c - keep - under)
            }
            Bounds::Absolute(x, y) => {
                let low = x.is_some_and(|x| v <= x);
                let high = y.is_some_and(|y| v > y);
                if low {
                    (0.0, c, 0.0)
                } else if high {
                    (0.0, 0.0, c)
                } else {
                    (c, 0.0, 0.0)
                }
            }
        };
        if keep > 0.0 {
            if kept_weight == 0.0 {
                kept_min = v;
            }
            kept_max = v;
            kept_weight += keep;
            kept_sum += v * keep;
        }
        below += under;
        above += over.max(0.0);
        before = after;
    }
    if kind == WindowKind::PercentRank {
        return Some(100.0 * kept_weight / n);
    }
    if kept_weight <= 0.0 {
        return None;
    }
    Some(match kind {
        WindowKind::TrimmedMean => kept_sum / kept_weight,
        WindowKind::TrimmedCount => kept_weight,
        WindowKind::TrimmedSum => kept_sum,
        WindowKind::WinsorizedMean => (kept_sum + below * kept_min + above * kept_max) / (kept_weight + below + above),
        WindowKind::PercentRank => unreachable!("handled above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Sample;

    fn bucket(values: &[f64]) -> Bucket {
        let mut b = Bucket::default();
        for v in values {
            b.add(&Sample::value(1, 0, 0, 60, *v, 1.0));
        }
        b
    }

    fn stat(b: &mut Bucket, name: &str) -> Option<f64> {
        b.value(&Stat::parse(name).unwrap_or_else(|| panic!("{name} parses")))
    }

    #[test]
    fn names() {
        for good in [
            "p99",
            "p99.9",
            "p0",
            "p100",
            "tm90",
            "wm99",
            "tc10",
            "ts5",
            "TM(10%:90%)",
            "TM(:95%)",
            "TM(5%:)",
            "WM(10%:90%)",
            "TC(0.005:0.030)",
            "TS(80%:)",
            "PR(:300)",
            "PR(100:2000)",
            "IQM",
            "TM(150:1e3)",
            "p99.0000000001",
        ] {
            assert!(Stat::parse(good).is_some(), "{good}");
        }
        for bad in [
            "P99",
            "p101",
            "p",
            "p99.",
            "p99.12345678901",
            "average",
            "TM()",
            "TM(:)",
            "PR(10%:90%)",
            "XX(1:2)",
            "TM(90%:10%)",
            "tm",
            "pp99",
            "p-1",
        ] {
            assert!(Stat::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn spec_example_buckets() {
        // §2.5: 11:00 → values 10, 20, 30; 11:01 → a statistic set (2, 100, 40, 60).
        let mut minute = bucket(&[10.0, 20.0, 30.0]);
        assert_eq!(stat(&mut minute, "SampleCount"), Some(3.0));
        assert_eq!(stat(&mut minute, "Average"), Some(20.0));
        assert_eq!(stat(&mut minute, "Maximum"), Some(30.0));
        assert_eq!(stat(&mut minute, "p50"), Some(20.0));
        let mut set = Bucket::default();
        let mut s = Sample::value(1, 0, 0, 60, 40.0, 2.0);
        (s.sum, s.max, s.is_set) = (100.0, 60.0, true);
        set.add(&s);
        assert_eq!(stat(&mut set, "Average"), Some(50.0));
        assert_eq!(stat(&mut set, "Maximum"), Some(60.0));
        assert_eq!(stat(&mut set, "p50"), None);
    }

    #[test]
    fn ranks_and_windows() {
        let mut b = bucket(&(1..=100).map(f64::from).collect::<Vec<_>>());
        assert_eq!(stat(&mut b, "p99"), Some(99.0));
        assert_eq!(stat(&mut b, "p0"), Some(1.0));
        assert_eq!(stat(&mut b, "p100"), Some(100.0));
        assert_eq!(stat(&mut b, "tm90"), Some(45.5));
        assert_eq!(stat(&mut b, "TM(10%:90%)"), Some(50.5));
        assert_eq!(stat(&mut b, "IQM"), Some(50.5));
        assert_eq!(stat(&mut b, "tc90"), Some(90.0));
        assert_eq!(stat(&mut b, "ts10"), Some(55.0));
        assert_eq!(stat(&mut b, "PR(:50)"), Some(50.0));
        assert_eq!(stat(&mut b, "TC(10:20)"), Some(10.0));
        // WM(10%:90%): 1..10 → 11, 91..100 → 90.
        let expected = ((11..=90).sum::<i32>() as f64 + 10.0 * 11.0 + 10.0 * 90.0) / 100.0;
        assert_eq!(stat(&mut b, "WM(10%:90%)"), Some(expected));
        assert_eq!(stat(&mut b, "TM(200:)"), None, "empty window → no value");
        // Weighted values: 12.5 ×3, 30 ×1.
        let mut w = Bucket::default();
        w.add(&Sample::value(1, 0, 0, 60, 12.5, 3.0));
        w.add(&Sample::value(1, 0, 0, 60, 30.0, 1.0));
        assert_eq!(stat(&mut w, "p75"), Some(12.5));
        assert_eq!(stat(&mut w, "p76"), Some(30.0));
        assert_eq!(stat(&mut w, "Sum"), Some(67.5));
        // Negative values still have percentiles (fluoro).
        let mut n = bucket(&[-5.0, 1.0]);
        assert_eq!(stat(&mut n, "p50"), Some(-5.0));
    }
}
