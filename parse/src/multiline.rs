//! Which lines continue the record before them rather than start one.

const TRACEBACK: &str = "Traceback (most recent call last):";

/// Whether `line` (not blank) belongs to the record before it:
/// - an indented line (`\tat com.example…`, `  File "x.py", line 3`, `\t... 12 more`);
/// - Java's `Caused by: …` and `Suppressed: …`, and a line naming an exception
///   class (`java.lang.IllegalStateException: boom`) right after a record;
/// - Python's `Traceback (most recent call last):`, the lines that chain
///   tracebacks, and, inside a traceback, its final `ValueError: …` line.
pub(super) fn continues(line: &str, in_traceback: bool) -> bool {
    line.starts_with([' ', '\t'])
        || line.starts_with("Caused by: ")
        || line.starts_with("Suppressed: ")
        || line.starts_with(TRACEBACK)
        || line.starts_with("During handling of the above exception, another exception occurred:")
        || line.starts_with("The above exception was the direct cause of the following exception:")
        || (in_traceback && is_exception_line(line))
        || is_java_exception(line)
}

/// Whether the record is inside a Python traceback after this line.
pub(super) fn in_traceback_after(line: &str, in_traceback: bool) -> bool {
    if line.starts_with(TRACEBACK) {
        true
    } else if line.starts_with([' ', '\t']) {
        in_traceback
    } else {
        // The final `ValueError: …` line ends it, as does any other line.
        false
    }
}

/// `ValueError: message`, `KeyboardInterrupt`, `requests.exceptions.HTTPError: …`.
fn is_exception_line(line: &str) -> bool {
    let name = line.split_once(':').map_or(line, |(name, _)| name);
    !name.is_empty()
        && name.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        && (line.len() == name.len() || line[name.len()..].starts_with(": "))
}

/// A qualified Java class name ending in Exception, Error or Throwable,
/// alone or followed by `: message`.
fn is_java_exception(line: &str) -> bool {
    let name = line.split_once(": ").map_or(line, |(name, _)| name);
    let Some((package, class)) = name.rsplit_once('.') else {
        return false;
    };
    !package.is_empty()
        && ["Exception", "Error", "Throwable"]
            .iter()
            .any(|end| class.ends_with(end))
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_$".contains(c))
        })
}
