//! Turning input lines into log records: the flags of `lsctl send` become
//! [`Settings`], and an [`Assembler`] (see [`logstream_parse`]) makes records
//! of the lines, recognising each line's format and joining multi-line records.

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
