//! Alarms (spec metrics-alarms.md §3): states, and the composite alarm rule language.

pub mod composite;
pub mod evaluate;
pub mod rule;

pub use evaluate::json_time;

/// An alarm's `StateValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StateValue {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl StateValue {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "OK" => Some(Self::Ok),
            "ALARM" => Some(Self::Alarm),
            "INSUFFICIENT_DATA" => Some(Self::InsufficientData),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StateValue;

    #[test]
    fn state_names_round_trip() {
        for state in [StateValue::Ok, StateValue::Alarm, StateValue::InsufficientData] {
            assert_eq!(StateValue::parse(state.as_str()), Some(state));
        }
        assert_eq!(StateValue::parse("alarm"), None);
    }
}
