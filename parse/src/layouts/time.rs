//! The timestamp forms that log layouts print, each read at the start of a
//! text: the time (in the configured zone when the form names none) and how
//! many bytes it took. Every reader looks at a bounded number of bytes (a
//! fraction's digits at most once), so trying them all at a position is
//! linear in what they read.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::text::{iso_prefix, parse_offset, resolve};
use crate::{Context, Zone};

/// A time and the number of bytes it took.
pub(crate) type Found = (DateTime<Utc>, usize);

/// The digits `from..from + n` of `b` as a number.
pub(crate) fn digits(b: &[u8], from: usize, n: usize) -> Option<u32> {
    let part = b.get(from..from + n)?;
    part.iter()
        .all(u8::is_ascii_digit)
        .then(|| part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// A month's English abbreviation (`Jan` … `Dec`, any case) at `from`.
pub(crate) fn month_name(b: &[u8], from: usize) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let name = b.get(from..from + 3)?;
    let index = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    Some(index as u32 + 1)
}

/// `HH:MM:SS` at `from`, then an optional `.fff`/`,fff` (or `:fff`, when
/// `colon_fraction`): the time of day and the end.
fn clock(b: &[u8], from: usize, colon_fraction: bool) -> Option<(NaiveTime, usize)> {
    if b.get(from + 2) != Some(&b':') || b.get(from + 5) != Some(&b':') {
        return None;
    }
    let (h, m, s) = (
        digits(b, from, 2)?,
        digits(b, from + 3, 2)?,
        digits(b, from + 6, 2)?,
    );
    let (nanos, end) = fraction(b, from + 8, colon_fraction);
    Some((NaiveTime::from_hms_nano_opt(h, m, s, nanos)?, end))
}

/// A fraction of a second at `at` (`.123`, `,123456`): nanoseconds and its end.
fn fraction(b: &[u8], at: usize, colon: bool) -> (u32, usize) {
    let separator = matches!(b.get(at), Some(b'.' | b',')) || (colon && b.get(at) == Some(&b':'));
    if !separator {
        return (0, at);
    }
    let count = b[at + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if count == 0 {
        return (0, at);
    }
    let kept = count.min(9);
    let nanos = digits(b, at + 1, kept).unwrap_or(0) * 10u32.pow(9 - kept as u32);
    (nanos, at + 1 + count)
}

/// Whether a time ends at `end`: not in the middle of a word or number.
fn ends(b: &[u8], end: usize) -> bool {
    b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// A date and time of day in `zone` (or in the zone written after it).
fn finish(text: &str, date: NaiveDate, time: NaiveTime, end: usize, zone: Zone) -> Option<Found> {
    let (offset, end) = match parse_offset(&text[end..]) {
        Some((offset, n)) => (Some(offset), end + n),
        None => (None, end),
    };
    ends(text.as_bytes(), end).then(|| (resolve(date.and_time(time), offset, zone), end))
}

/// The date of a year-less time: this year, unless that is more than a day
/// ahead of `now` (a December line read in January), then the year before.
pub(crate) fn this_year(
    month: u32,
    day: u32,
    time: NaiveTime,
    cx: Context,
) -> Option<DateTime<Utc>> {
    let year = cx.zone.year(cx.now);
    let at =
        |year| NaiveDate::from_ymd_opt(year, month, day).map(|d| cx.zone.resolve(d.and_time(time)));
    let current = at(year).filter(|t| *t <= cx.now + Duration::days(1));
    current.or_else(|| at(year - 1))
}

/// `2026-11-27T12:00:01.123Z`, `2026-11-27 12:00:01,123`, `2026/11/27 12:00:01`.
pub(crate) fn iso(text: &str, cx: Context) -> Option<Found> {
    let (naive, offset, len) = iso_prefix(text)?;
    Some((resolve(naive, offset, cx.zone), len))
}

/// Blue Gene/L's `2005-06-03-15.42.50.675872` and DB2's alike.
pub(crate) fn dotted_clock(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    let shape = b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') && b.get(10) == Some(&b'-');
    if !shape || b.get(13) != Some(&b'.') || b.get(16) != Some(&b'.') {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(digits(b, 0, 4)? as i32, digits(b, 5, 2)?, digits(b, 8, 2)?)?;
    let (h, m, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    let (nanos, end) = fraction(b, 19, false);
    finish(
        text,
        date,
        NaiveTime::from_hms_nano_opt(h, m, s, nanos)?,
        end,
        cx.zone,
    )
}

/// log4j's `yy/MM/dd HH:mm:ss` (Spark), read as 20yy.
pub(crate) fn short_year(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    if b.get(2) != Some(&b'/') || b.get(5) != Some(&b'/') || b.get(8) != Some(&b' ') {
        return None;
    }
    let year = 2000 + digits(b, 0, 2)? as i32;
    let date = NaiveDate::from_ymd_opt(year, digits(b, 3, 2)?, digits(b, 6, 2)?)?;
    let (time, end) = clock(b, 9, false)?;
    finish(text, date, time, end, cx.zone)
}

/// log4j's compact `yyMMdd HHmmss` (HDFS).
pub(crate) fn compact(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    if b.get(6) != Some(&b' ') || !ends(b, 13) {
        return None;
    }
    let year = 2000 + digits(b, 0, 2)? as i32;
    let date = NaiveDate::from_ymd_opt(year, digits(b, 2, 2)?, digits(b, 4, 2)?)?;
    let time = NaiveTime::from_hms_opt(digits(b, 7, 2)?, digits(b, 9, 2)?, digits(b, 11, 2)?)?;
    finish(text, date, time, 13, cx.zone)
}

/// `MM-dd HH:mm:ss.SSS` (logcat's threadtime) in the current year.
pub(crate) fn month_day(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    if b.get(2) != Some(&b'-') || b.get(5) != Some(&b' ') {
        return None;
    }
    let (time, end) = clock(b, 6, false)?;
    ends(b, end).then_some(())?;
    Some((
        this_year(digits(b, 0, 2)?, digits(b, 3, 2)?, time, cx)?,
        end,
    ))
}

/// klog's `MMdd HH:mm:ss.uuuuuu` (after its level letter), in the current year.
pub(crate) fn klog(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    if b.get(4) != Some(&b' ') {
        return None;
    }
    let (time, end) = clock(b, 5, false)?;
    Some((
        this_year(digits(b, 0, 2)?, digits(b, 2, 2)?, time, cx)?,
        end,
    ))
}

/// BSD syslog's `Nov 27 12:00:01` (or `Nov  7 …`), in the current year.
pub(crate) fn bsd(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    let month = month_name(b, 0)?;
    if b.get(3) != Some(&b' ') || b.get(6) != Some(&b' ') {
        return None;
    }
    let day = match b.get(4)? {
        b' ' => digits(b, 5, 1)?,
        _ => digits(b, 4, 2)?,
    };
    let (time, end) = clock(b, 7, false)?;
    ends(b, end).then_some(())?;
    Some((this_year(month, day, time, cx)?, end))
}

/// C's ctime, as Apache's error log has it: `Sun Dec 04 04:47:44 2005`, also
/// with microseconds (`Fri Sep 09 10:42:29.902022 2011`).
pub(crate) fn ctime(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    if b.get(3) != Some(&b' ') || !b[..3].iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let month = month_name(b, 4)?;
    let day = match b.get(8)? {
        b' ' => digits(b, 9, 1)?,
        _ => digits(b, 8, 2)?,
    };
    let (time, end) = clock(b, 11, false)?;
    if b.get(end) != Some(&b' ') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(b, end + 1, 4)? as i32, month, day)?;
    finish(text, date, time, end + 5, cx.zone)
}

/// The common log format's `10/Oct/2000:13:55:36 -0700`.
pub(crate) fn common_log(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    if b.get(2) != Some(&b'/') || b.get(6) != Some(&b'/') || b.get(11) != Some(&b':') {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(digits(b, 7, 4)? as i32, month_name(b, 3)?, digits(b, 0, 2)?)?;
    let (time, mut end) = clock(b, 12, false)?;
    if b.get(end) == Some(&b' ') {
        end += 1;
    }
    finish(text, date, time, end, cx.zone)
}

/// `27-Nov-2026 12:00:01.123` (Tomcat, PHP) and `27 Nov 2026 12:00:01.123` (Redis).
pub(crate) fn day_month_name(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    let separator = *b.get(2)?;
    if !matches!(separator, b'-' | b' ') || b.get(6) != Some(&separator) || b.get(11) != Some(&b' ')
    {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(digits(b, 7, 4)? as i32, month_name(b, 3)?, digits(b, 0, 2)?)?;
    let (time, end) = clock(b, 12, false)?;
    finish(text, date, time, end, cx.zone)
}

/// java.util.logging's `Nov 27, 2026 12:00:01 PM` (the hour may have one digit).
pub(crate) fn month_name_12h(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    let month = month_name(b, 0)?;
    let comma = b.iter().take(7).position(|&c| c == b',')?;
    let day_text = text.get(4..comma)?;
    let day: u32 = day_text.parse().ok()?;
    let year = digits(b, comma + 2, 4)? as i32;
    let from = comma + 7;
    let hour_len = if b.get(from + 1) == Some(&b':') { 1 } else { 2 };
    let hour = digits(b, from, hour_len)?;
    let (minute, second) = (
        digits(b, from + hour_len + 1, 2)?,
        digits(b, from + hour_len + 4, 2)?,
    );
    let marker = text.get(from + hour_len + 7..from + hour_len + 9)?;
    let hour = match marker {
        "AM" => hour % 12,
        "PM" => hour % 12 + 12,
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = NaiveTime::from_hms_opt(hour, minute, second)?;
    finish(text, date, time, from + hour_len + 9, cx.zone)
}

/// Epoch seconds (10 digits, maybe with a fraction: Squid's `1286536308.779`)
/// or milliseconds (13 digits), within 2001–2286.
pub(crate) fn epoch(text: &str, _cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    let count = b.iter().take(14).take_while(|c| c.is_ascii_digit()).count();
    let number: i64 = text.get(..count)?.parse().ok()?;
    let (at, end) = match count {
        10 => {
            let (nanos, end) = fraction(b, 10, false);
            (DateTime::from_timestamp(number, nanos)?, end)
        }
        13 => (DateTime::from_timestamp_millis(number)?, 13),
        _ => return None,
    };
    ends(b, end).then_some((at, end))
}

/// A time of day alone, `12:00:01.123`: today, or yesterday when that would
/// be more than a minute ahead of `now`.
pub(crate) fn time_of_day(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    let (time, end) = clock(b, 0, false)?;
    ends(b, end).then_some(())?;
    let today = match cx.zone {
        Zone::Fixed(offset) => cx.now.with_timezone(&offset).date_naive(),
        Zone::Local => cx.now.with_timezone(&chrono::Local).date_naive(),
    };
    let at = cx.zone.resolve(today.and_time(time));
    let at = if at > cx.now + Duration::minutes(1) {
        at - Duration::days(1)
    } else {
        at
    };
    Some((at, end))
}

/// `20171223-22:15:29:606` (HealthApp and other Android apps).
pub(crate) fn compact_date_clock(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    if b.get(8) != Some(&b'-') {
        return None;
    }
    let date =
        NaiveDate::from_ymd_opt(digits(b, 0, 4)? as i32, digits(b, 4, 2)?, digits(b, 6, 2)?)?;
    let (time, end) = clock(b, 9, true)?;
    finish(text, date, time, end, cx.zone)
}

/// `27.11.2026 12:00:01` and `2026.11.27 12:00:01`.
pub(crate) fn dotted_date(text: &str, cx: Context) -> Option<Found> {
    let b = text.as_bytes();
    let (year, month, day) = if b.get(2) == Some(&b'.') && b.get(5) == Some(&b'.') {
        (digits(b, 6, 4)?, digits(b, 3, 2)?, digits(b, 0, 2)?)
    } else if b.get(4) == Some(&b'.') && b.get(7) == Some(&b'.') {
        (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?)
    } else {
        return None;
    };
    if b.get(10) != Some(&b' ') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let (time, end) = clock(b, 11, false)?;
    finish(text, date, time, end, cx.zone)
}

/// Every form with a date, for the fallback that looks for a time among a
/// line's first fields: the first that reads at the start of `text`.
pub(crate) fn any(text: &str, cx: Context) -> Option<Found> {
    type Reader = fn(&str, Context) -> Option<Found>;
    const BY_DIGIT: [Reader; 9] = [
        iso,
        dotted_clock,
        short_year,
        compact,
        month_day,
        common_log,
        day_month_name,
        compact_date_clock,
        dotted_date,
    ];
    const BY_LETTER: [Reader; 3] = [bsd, ctime, month_name_12h];
    let readers: &[Reader] = match text.as_bytes().first()? {
        b'0'..=b'9' => &BY_DIGIT,
        b'A'..=b'Z' | b'a'..=b'z' => &BY_LETTER,
        _ => return None,
    };
    readers.iter().find_map(|read| read(text, cx))
}

/// The context for a time followed by this zone name: UTC for `UTC` and
/// `GMT`, else the configured zone (other abbreviations are ambiguous).
pub(crate) fn zone_named(name: &str, cx: Context) -> Context {
    match name {
        "UTC" | "GMT" | "Z" => Context {
            zone: Zone::Fixed(chrono::FixedOffset::east_opt(0).expect("UTC")),
            ..cx
        },
        _ => cx,
    }
}
