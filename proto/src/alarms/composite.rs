//! Composite alarms beyond the rule itself (spec metrics-alarms.md §3.9.3, §3.9.4): the
//! StateReason and StateReasonData of an evaluation, and the suppression of AlarmActions by an
//! `ActionsSuppressor`, as a state machine driven by an injected clock.

use super::StateValue;
use super::evaluate::{MAX_REASON_DATA, json_time};

/// A referenced child as the composite's texts show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child<'a> {
    pub arn: &'a str,
    pub state: StateValue,
    /// Its StateTransitionedTimestamp, epoch ms.
    pub transitioned_ms: i64,
}

/// `<child ARN> transitioned to <STATE> at <Weekday> <dd> <Month>, <yyyy> <HH:mm:ss> UTC`.
pub fn reason(trigger: &Child<'_>) -> String {
    let time = chrono::DateTime::from_timestamp_millis(trigger.transitioned_ms).unwrap_or_default();
    format!(
        "{} transitioned to {} at {}",
        trigger.arn,
        trigger.state.as_str(),
        time.format("%A %d %B, %Y %H:%M:%S UTC")
    )
}

/// `Alarm rule evaluated to <TRUE|FALSE>`: the reason of a rule without alarm references.
pub fn constant_reason(value: bool) -> String {
    format!("Alarm rule evaluated to {}", if value { "TRUE" } else { "FALSE" })
}

/// `{"triggeringAlarms":[…]}` for the children (in rule order, once each) whose state function
/// has the rule's truth value; items that would pass 4,000 characters are left out.
pub fn reason_data(triggering: &[Child<'_>]) -> String {
    let mut out = String::from("{\"triggeringAlarms\":[");
    for (i, child) in triggering.iter().enumerate() {
        let item = format!(
            "{}{{\"arn\":{},\"state\":{{\"value\":\"{}\",\"timestamp\":\"{}\"}}}}",
            if i == 0 { "" } else { "," },
            serde_json::to_string(child.arn).expect("strings serialize"),
            child.state.as_str(),
            json_time(child.transitioned_ms)
        );
        if out.len() + item.len() + 2 > MAX_REASON_DATA {
            break;
        }
        out.push_str(&item);
    }
    out.push_str("]}");
    out
}

/// Why the composite's AlarmActions are held (`ActionsSuppressedBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    /// Waiting up to the deadline for the suppressor to go into ALARM.
    WaitPeriod { until_ms: i64 },
    /// The suppressor is in ALARM.
    Alarm,
    /// The suppressor left ALARM; actions run at the deadline unless it returns.
    ExtensionPeriod { until_ms: i64 },
}

impl Suppression {
    /// `ActionsSuppressedBy`.
    pub fn by(self) -> &'static str {
        match self {
            Self::WaitPeriod { .. } => "WaitPeriod",
            Self::Alarm => "Alarm",
            Self::ExtensionPeriod { .. } => "ExtensionPeriod",
        }
    }

    /// `ActionsSuppressedReason`.
    pub fn reason(self) -> String {
        format!("Actions suppressed by {}", self.by())
    }
}

/// The suppressor and its periods, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressor {
    pub wait_period_s: i64,
    pub extension_period_s: i64,
}

/// What happens to held actions after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Still held (or newly held), for this reason.
    Suppressed(Suppression),
    /// Run the held AlarmActions now; the suppression fields are cleared.
    Release,
    /// Nothing is held.
    Nothing,
}

impl Suppressor {
    /// The composite went into ALARM at `now_ms` with the suppressor in `suppressor_state`.
    pub fn on_alarm(self, suppressor_state: StateValue, now_ms: i64) -> Held {
        if suppressor_state == StateValue::Alarm {
            Held::Suppressed(Suppression::Alarm)
        } else {
            Held::Suppressed(Suppression::WaitPeriod { until_ms: now_ms + self.wait_period_s * 1000 })
        }
    }

    /// The suppressor changed to `state` at `now_ms` while actions are held by `current`.
    pub fn on_suppressor(self, current: Suppression, state: StateValue, now_ms: i64) -> Held {
        match (current, state) {
            (_, StateValue::Alarm) => Held::Suppressed(Suppression::Alarm),
            (Suppression::Alarm, _) => {
                Held::Suppressed(Suppression::ExtensionPeriod { until_ms: now_ms + self.extension_period_s * 1000 })
            }
            (other, _) => Held::Suppressed(other),
        }
    }

    /// The clock reached `now_ms` while actions are held by `current`.
    pub fn on_tick(current: Suppression, now_ms: i64) -> Held {
        match current {
            Suppression::WaitPeriod { until_ms } | Suppression::ExtensionPeriod { until_ms } if now_ms >= until_ms => {
                Held::Release
            }
            other => Held::Suppressed(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-01-15 00:00 UTC.
    const DAY: i64 = 1_736_899_200_000;

    fn at(hh: i64, mm: i64) -> i64 {
        DAY + (hh * 60 + mm) * 60_000
    }

    const A: &str = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a";
    const B: &str = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:b";

    #[test]
    fn v16_texts() {
        let b = Child { arn: B, state: StateValue::Ok, transitioned_ms: at(11, 59) };
        assert_eq!(
            reason(&b),
            "arn:aws:cloudwatch:us-east-1:000000000000:alarm:b transitioned to OK at Wednesday 15 January, 2025 11:59:00 UTC"
        );
        let a = Child { arn: A, state: StateValue::Alarm, transitioned_ms: at(12, 3) };
        assert_eq!(
            reason(&a),
            "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a transitioned to ALARM at Wednesday 15 January, 2025 12:03:00 UTC"
        );
        assert_eq!(
            reason_data(std::slice::from_ref(&a)),
            r#"{"triggeringAlarms":[{"arn":"arn:aws:cloudwatch:us-east-1:000000000000:alarm:a","state":{"value":"ALARM","timestamp":"2025-01-15T12:03:00.000+0000"}}]}"#
        );
        assert_eq!(constant_reason(true), "Alarm rule evaluated to TRUE");
        let many: Vec<Child> = (0..200).map(|_| a.clone()).collect();
        let data = reason_data(&many);
        assert!(data.len() <= MAX_REASON_DATA && data.ends_with("}}]}"), "{}", data.len());
        assert!(serde_json::from_str::<serde_json::Value>(&data).is_ok());
    }

    #[test]
    fn v16_suppression_timeline() {
        let sup = Suppressor { wait_period_s: 120, extension_period_s: 180 };
        // 12:03 the composite goes into ALARM with the suppressor OK: wait until 12:05.
        let Held::Suppressed(held) = sup.on_alarm(StateValue::Ok, at(12, 3)) else { panic!() };
        assert_eq!(held, Suppression::WaitPeriod { until_ms: at(12, 5) });
        assert_eq!(held.reason(), "Actions suppressed by WaitPeriod");
        assert_eq!(Suppressor::on_tick(held, at(12, 4)), Held::Suppressed(held));
        // 12:04 the suppressor goes into ALARM; 12:10 it leaves: extension until 12:13.
        let Held::Suppressed(held) = sup.on_suppressor(held, StateValue::Alarm, at(12, 4)) else { panic!() };
        assert_eq!(held, Suppression::Alarm);
        assert_eq!(Suppressor::on_tick(held, at(12, 9)), Held::Suppressed(Suppression::Alarm));
        let Held::Suppressed(held) = sup.on_suppressor(held, StateValue::Ok, at(12, 10)) else { panic!() };
        assert_eq!(held, Suppression::ExtensionPeriod { until_ms: at(12, 13) });
        assert_eq!(held.reason(), "Actions suppressed by ExtensionPeriod");
        assert_eq!(Suppressor::on_tick(held, at(12, 12)), Held::Suppressed(held));
        assert_eq!(Suppressor::on_tick(held, at(12, 13)), Held::Release);
        // Back into ALARM during the extension: held by Alarm again.
        assert_eq!(sup.on_suppressor(held, StateValue::Alarm, at(12, 11)), Held::Suppressed(Suppression::Alarm));
        // The variant: the suppressor stays OK, actions run at the end of the wait (12:05).
        let Held::Suppressed(wait) = sup.on_alarm(StateValue::Ok, at(12, 3)) else { panic!() };
        assert_eq!(Suppressor::on_tick(wait, at(12, 5)), Held::Release);
        // A suppressor already in ALARM holds at once.
        assert_eq!(sup.on_alarm(StateValue::Alarm, at(12, 3)), Held::Suppressed(Suppression::Alarm));
    }
}
