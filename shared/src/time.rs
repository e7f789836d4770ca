//! Time bounds as people type them: `15m`, `2h30m`, `7d`, `now`, or RFC 3339.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

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

/// Dates with a time of day and no zone, as people type them.
const LOCAL_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

/// Like [`parse_time_bound`], and also a date and time without a zone
/// (`2026-11-30 14:00`, `2026-11-30 14:00:05.250`) or a time of today
/// (`14:00`), read in `zone`: what a person at a terminal means.
pub fn parse_time_in<Tz: TimeZone>(
    text: &str,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    let today = now.with_timezone(zone).date_naive();
    let naive = LOCAL_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(trimmed, format).ok())
        .or_else(|| {
            ["%H:%M:%S", "%H:%M"]
                .iter()
                .find_map(|format| NaiveTime::parse_from_str(trimmed, format).ok())
                .map(|time| today.and_time(time))
        });
    match naive {
        // A time skipped by a DST change has no earliest instant: an error.
        Some(naive) => zone
            .from_local_datetime(&naive)
            .earliest()
            .map(|at| at.with_timezone(&Utc))
            .ok_or_else(|| format!("\"{trimmed}\" does not exist in this time zone")),
        None => parse_time_bound(text, now).map_err(|e| {
            format!("{e}, a local date and time (2024-05-01 14:00) or a time of today (14:00)")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_read_in_the_zone_given() {
        let now: DateTime<Utc> = "2024-05-01T12:00:00Z".parse().unwrap();
        let plus2 = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        let at = |s: &str| parse_time_in(s, now, &plus2).unwrap().to_rfc3339();
        assert_eq!(at("2024-04-30 14:00"), "2024-04-30T12:00:00+00:00");
        assert_eq!(
            at("2024-04-30T14:00:05.250"),
            "2024-04-30T12:00:05.250+00:00"
        );
        assert_eq!(at("09:30"), "2024-05-01T07:30:00+00:00");
        assert_eq!(at("2h ago"), "2024-05-01T10:00:00+00:00");
        assert_eq!(at("2024-04-30T08:00:00Z"), "2024-04-30T08:00:00+00:00");
        let err = parse_time_in("teatime", now, &Utc).unwrap_err();
        assert!(
            err.contains("2024-05-01 14:00") && err.contains("15m"),
            "{err}"
        );
    }

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
