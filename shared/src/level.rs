//! Log severity levels.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A log level. The order is severity: `Trace < Debug < … < Fatal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
// As `Serialize` below writes it: the canonical upper-case name.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(rename_all = "UPPERCASE")
)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// What `Level::from_str` accepts, for error messages.
pub const ACCEPTED_LEVELS: &str = "TRACE, DEBUG, INFO, WARN, ERROR, FATAL (any case; also \
     verbose, dbg, information, notice, warning, err, critical, crit, alert, emerg, panic)";

/// A level name that is not one of the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level \"{0}\"; accepted: {ACCEPTED_LEVELS}")]
pub struct UnknownLevel(pub String);

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// The canonical upper-case name, as stored and returned by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// The number a store keeps: 0 for TRACE up to 5 for FATAL, so `>=` works.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(n: u8) -> Option<Level> {
        Level::ALL.get(usize::from(n)).copied()
    }
}

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Case-insensitive, with the aliases that common loggers (syslog, log4j,
    /// Python, Go, Serilog) print.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let level = match s.trim().to_ascii_lowercase().as_str() {
            "trace" | "verbose" | "finest" => Level::Trace,
            "debug" | "dbg" | "fine" => Level::Debug,
            "info" | "information" | "informational" | "notice" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" | "severe" => Level::Error,
            "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => {
                Level::Fatal
            }
            _ => return Err(UnknownLevel(s.to_string())),
        };
        Ok(level)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_aliases_in_any_case() {
        assert_eq!("INFO".parse(), Ok(Level::Info));
        assert_eq!("warning".parse(), Ok(Level::Warn));
        assert_eq!("Err".parse(), Ok(Level::Error));
        assert_eq!(" critical ".parse(), Ok(Level::Fatal));
        assert_eq!("panic".parse(), Ok(Level::Fatal));
        assert_eq!("trace".parse(), Ok(Level::Trace));
    }

    #[test]
    fn unknown_level_lists_accepted_values() {
        let err = "loud".parse::<Level>().unwrap_err().to_string();
        assert!(err.contains("\"loud\""), "{err}");
        assert!(
            err.contains("TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
            "{err}"
        );
    }

    #[test]
    fn order_is_severity_and_numbers_round_trip() {
        assert!(Level::Trace < Level::Debug && Level::Error < Level::Fatal);
        for level in Level::ALL {
            assert_eq!(Level::from_u8(level.as_u8()), Some(level));
            assert_eq!(level.as_str().parse(), Ok(level));
        }
        assert_eq!(Level::from_u8(6), None);
    }
}
