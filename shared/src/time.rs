//! Time bounds as people type them: `15m`, `2h30m`, `7d`, `now`, or RFC 3339.

use chrono::{DateTime, NaiveDate, Utc};

/// Parses `since`/`until` values: a duration before `now` (`30s`, `15m`,
/// `2h`, `7d`, `1h30m`), `now`, an RFC 3339 time, or a date (midnight UTC).
pub fn parse_time_bound(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    let ago = humantime::parse_duration(text.trim_end_matches(" ago")).map_err(|_| {
        format!(
            "\"{text}\" is not a time; expected a duration before now (30s, 15m, 2h, 7d, 1h30m), \
             \"now\", an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01)"
        )
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| now.checked_sub_signed(ago))
        .ok_or_else(|| format!("\"{text}\" reaches too far into the past"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_absolute_and_dates() {
        let now: DateTime<Utc> = "2024-05-01T12:00:00Z".parse().unwrap();
        let at = |s: &str| parse_time_bound(s, now).unwrap().to_rfc3339();
        assert_eq!(at("15m"), "2024-05-01T11:45:00+00:00");
        assert_eq!(at("1h30m"), "2024-05-01T10:30:00+00:00");
        assert_eq!(at("7d"), "2024-04-24T12:00:00+00:00");
        assert_eq!(at("2h ago"), "2024-05-01T10:00:00+00:00");
        assert_eq!(at("now"), "2024-05-01T12:00:00+00:00");
        assert_eq!(at("2024-04-30T08:00:00+02:00"), "2024-04-30T06:00:00+00:00");
        assert_eq!(at("2024-04-30"), "2024-04-30T00:00:00+00:00");
        let err = parse_time_bound("yesterday-ish", now).unwrap_err();
        assert!(
            err.contains("\"yesterday-ish\"") && err.contains("15m"),
            "{err}"
        );
    }
}
