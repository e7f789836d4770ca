//! Keyset positions in the record order `(timestamp, id)`: what the API's
//! `cursor`, `next_cursor` and `prev_cursor` carry. Clients may make one of
//! any record they hold (lstui does, to page on from the edge of its window).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::LogRecord;

/// A keyset position in the order `(timestamp, id)`: pages stay stable while
/// new records arrive, unlike offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub ts_ns: i64,
    pub id: String,
}

impl Cursor {
    pub fn of(record: &LogRecord) -> Cursor {
        Cursor {
            ts_ns: record.timestamp_nanos(),
            id: record.id.clone(),
        }
    }

    /// base64url of `ts:id`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.ts_ns, self.id))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let (ts, id) = raw.split_once(':')?;
        Some(Cursor {
            ts_ns: ts.parse().ok()?,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            ts_ns: 1_714_564_800_123_456_789,
            id: "0190a0b2-7e1d-7c3e-9d4b-3c2a1b0f9e8d".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not a cursor!"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("x:y")), None);
    }
}
