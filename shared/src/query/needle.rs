//! Case-insensitive substring search, with the needle lowercased once.

/// A case-insensitive substring to look for, lowercased once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    lower: String,
}

impl Needle {
    pub fn new(text: &str) -> Needle {
        Needle {
            lower: text.to_lowercase(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Whether `haystack` contains the needle, ignoring case. ASCII text (the
    /// common case) is compared in place: lowercasing every message would
    /// allocate 50,000 times a second.
    pub fn is_in(&self, haystack: &str) -> bool {
        if haystack.is_ascii() && self.lower.is_ascii() {
            find_ascii(haystack.as_bytes(), self.lower.as_bytes(), 0).is_some()
        } else {
            haystack.to_lowercase().contains(&self.lower)
        }
    }

    /// Byte ranges of the non-overlapping matches in `haystack`, for
    /// highlighting. Empty when lowercasing would move byte offsets.
    pub fn ranges(&self, haystack: &str) -> Vec<std::ops::Range<usize>> {
        let mut ranges = Vec::new();
        if self.lower.is_empty() {
            return ranges;
        }
        let lowered;
        let hay = if haystack.is_ascii() && self.lower.is_ascii() {
            haystack
        } else {
            lowered = haystack.to_lowercase();
            if lowered.len() != haystack.len() {
                return ranges;
            }
            &lowered
        };
        let mut from = 0;
        while let Some(start) = find_ascii(hay.as_bytes(), self.lower.as_bytes(), from) {
            let end = start + self.lower.len();
            if !haystack.is_char_boundary(start) || !haystack.is_char_boundary(end) {
                break;
            }
            ranges.push(start..end);
            from = end;
        }
        ranges
    }
}

/// The first position at or after `from` where `needle` (lowercase) occurs
/// in `hay`, comparing ASCII letters without case.
fn find_ascii(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    let first = needle[0];
    let last_start = hay.len().checked_sub(needle.len())?;
    (from..=last_start).find(|&i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i..i + needle.len()]
                .iter()
                .zip(needle)
                .all(|(h, n)| h.to_ascii_lowercase() == *n)
    })
}
