//! Turning input lines into log records: the flags of `lsctl send` become
//! [`Settings`], and an [`Assembler`] (see [`logstream_parse`]) makes records
//! of the lines, recognising each line's format and joining multi-line records.

use logstream_parse::Format;
pub(crate) use logstream_parse::{Assembler, IDLE_FLUSH, Settings};

use crate::cli::SendArgs;

/// The settings `lsctl send`'s flags ask for; an error names the flag whose
/// value the daemon would refuse.
pub(crate) fn settings_from_args(args: &SendArgs) -> anyhow::Result<Settings> {
    let settings = Settings {
        format: args.format,
        service: args.service.clone(),
        host: args.host.clone(),
        attributes: args.attributes.iter().cloned().collect(),
        timezone: args.timezone,
    };
    settings.check().map_err(anyhow::Error::msg)?;
    Ok(settings)
}

/// With `-v`, says on stderr which layout an input's lines were recognised
/// as (`lsctl: app.log: format logcat`), once per input, or that none was.
#[derive(Debug)]
pub(crate) struct LayoutNote {
    input: String,
    /// Nothing (more) to say: not verbose, or said.
    done: bool,
    /// Whether a line was read.
    read: bool,
}

impl LayoutNote {
    pub(crate) fn new(input: &str, verbose: bool) -> LayoutNote {
        LayoutNote {
            input: input.to_string(),
            done: !verbose,
            read: false,
        }
    }

    /// After each line: says the layout the first time one is known (a
    /// forced mode such as json at once).
    pub(crate) fn after_line(&mut self, assembler: &Assembler) {
        if self.done {
            return;
        }
        self.read = true;
        let format = assembler.format();
        let name = match assembler.layout() {
            Some(layout) => Some(layout.name),
            None => (format != Format::Auto).then(|| format.name()),
        };
        if let Some(name) = name {
            eprintln!("lsctl: {}: format {name}", self.input);
            self.done = true;
        }
    }

    /// At the end of the input: says that no layout was recognised, if so.
    pub(crate) fn at_end(&mut self) {
        if !self.done && self.read {
            eprintln!(
                "lsctl: {}: no layout recognised, lines sent as plain text",
                self.input
            );
            self.done = true;
        }
    }
}
