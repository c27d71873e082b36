//! Dynamic labels (spec metrics-alarms.md §2.7.6): `${LABEL}`, `${AVG}`, `${MIN}`, `${MAX}`,
//! `${SUM}`, `${FIRST}`, `${LAST}`, `${DATAPOINT_COUNT}`, `${PROP('Namespace')}`,
//! `${PROP('MetricName')}`, `${PROP('Dim.<name>')}`, `${PROP('Period')}`, `${PROP('Stat')}`,
//! `${MIN_TIME}`, `${MAX_TIME}` (the times of the smallest and largest value, in
//! `LabelOptions.Timezone`). Unknown tokens stay as written.

use super::math::Ts;

fn number(v: f64) -> String {
    // Integers without a fraction, others with up to 4 decimals (as the console shows them).
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn time(ms: i64, timezone: &str) -> String {
    let sign = if timezone.starts_with('-') { -1 } else { 1 };
    let hours: i32 = timezone.get(1..3).and_then(|h| h.parse().ok()).unwrap_or(0);
    let minutes: i32 = timezone.get(3..5).and_then(|m| m.parse().ok()).unwrap_or(0);
    let offset = chrono::FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&offset)
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

fn token(name: &str, default: &str, ts: &Ts, timezone: &str) -> Option<String> {
    let values: Vec<f64> = ts.points.values().copied().collect();
    let extreme = |larger: bool| {
        ts.points.iter().fold(None::<(i64, f64)>, |best, (t, v)| match best {
            Some((_, b)) if (larger && *v <= b) || (!larger && *v >= b) => best,
            _ => Some((*t, *v)),
        })
    };
    Some(match name {
        "LABEL" => default.to_owned(),
        "AVG" => number(values.iter().sum::<f64>() / values.len().max(1) as f64),
        "SUM" => number(values.iter().sum()),
        "MIN" => number(extreme(false)?.1),
        "MAX" => number(extreme(true)?.1),
        "FIRST" => number(*ts.points.values().next()?),
        "LAST" => number(*ts.points.values().next_back()?),
        "DATAPOINT_COUNT" => values.len().to_string(),
        "MIN_TIME" => time(extreme(false)?.0, timezone),
        "MAX_TIME" => time(extreme(true)?.0, timezone),
        _ => {
            let property = name.strip_prefix("PROP(")?.strip_suffix(')')?.trim_matches(|c| c == '\'' || c == '"');
            let (key, stat) = ts.metric.as_ref()?;
            match property {
                "Namespace" => key.namespace.clone(),
                "MetricName" => key.name.clone(),
                "Period" => ts.period.to_string(),
                "Stat" => stat.clone(),
                p => key.dimension(p.strip_prefix("Dim.")?)?.to_owned(),
            }
        }
    })
}

/// The label with its tokens replaced.
pub fn expand(label: &str, default: &str, ts: &Ts, timezone: &str) -> String {
    let mut out = String::new();
    let mut rest = label;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match token(name, default, ts, timezone) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use fluoro_proto::metrics::SeriesKey;

    use super::*;

    #[test]
    fn tokens() {
        let key = Arc::new(SeriesKey::new("MyApp", "Latency", vec![("Service".into(), "checkout".into())]));
        let points: BTreeMap<i64, f64> =
            [(1_736_942_400_000, 10.0), (1_736_942_460_000, 30.5), (1_736_942_520_000, 2.0)].into();
        let ts = Ts { points, label: "Latency".into(), period: 60, metric: Some((key, "p99".into())) };
        assert_eq!(
            expand("${LABEL} avg ${AVG} max ${MAX} at ${MAX_TIME} n=${DATAPOINT_COUNT}", "Latency", &ts, "+0100"),
            "Latency avg 14.1667 max 30.5 at 2025-01-15T13:01:00+0100 n=3"
        );
        assert_eq!(
            expand("${PROP('Dim.Service')} ${PROP('Stat')}/${PROP('Period')}s ${PROP('Namespace')}", "x", &ts, "+0000"),
            "checkout p99/60s MyApp"
        );
        assert_eq!(expand("${FIRST}..${LAST} ${SUM} ${MIN}", "x", &ts, "+0000"), "10..2 42.5 2");
        assert_eq!(expand("${NOPE} ${PROP('Dim.Missing')} ${", "x", &ts, "+0000"), "${NOPE} ${PROP('Dim.Missing')} ${");
    }
}
