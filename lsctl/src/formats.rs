//! `lsctl formats`: the layouts `send` recognises, each with its names and
//! an example line.

use std::fmt::Write;

use logstream_parse::Format;

/// The listing: one block per format, its name (and aliases) with what it
/// is, then its example lines indented.
pub(crate) fn listing() -> String {
    let mut out = String::new();
    for format in Format::all() {
        let _ = write!(out, "{}", format.name());
        if let Format::Layout(layout) = format {
            if !layout.aliases.is_empty() {
                let _ = write!(out, " (also {})", layout.aliases.join(", "));
            }
            let _ = writeln!(out, ": {}", layout.title);
            for line in layout.example.lines() {
                let _ = writeln!(out, "    {line}");
            }
        } else {
            let _ = writeln!(out, ": {}", format.description());
        }
    }
    out
}
