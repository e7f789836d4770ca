//! Where lstui finds the daemon and its token: the flags, then the
//! environment variables (both read by clap), then lsctl's config file, then
//! the default.
//!
//! This repeats the gist of `lsctl/src/config.rs` (same file, same keys, same
//! `LSCTL_CONFIG` override) so that one file configures both programs; it
//! could move to `logstream-shared` behind a feature if a third client came.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use logstream_shared::Secret;
use serde::Deserialize;

/// Names the config file instead of the default path (as for lsctl).
const CONFIG_ENV: &str = "LSCTL_CONFIG";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    token: Option<Secret>,
}

/// Where the daemon is and the token to send it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: String,
    pub token: Option<Secret>,
}

impl Settings {
    /// `server` and `token` are what the flags or environment gave.
    pub fn resolve(server: Option<String>, token: Option<Secret>) -> anyhow::Result<Settings> {
        let server = server.filter(|s| !s.is_empty());
        let token = token.filter(|t| !t.expose().trim().is_empty());
        let file = match config_path() {
            Some((path, explicit)) if server.is_none() || token.is_none() => {
                read_config(&path, explicit)?
            }
            _ => FileConfig::default(),
        };
        let token = token
            .or(file.token.filter(|t| !t.expose().trim().is_empty()))
            .map(|t| Secret::new(t.expose().trim()));
        if let Some(token) = &token
            && !token.expose().bytes().all(|b| b.is_ascii_graphic())
        {
            bail!("the token has spaces or characters other than printable ASCII");
        }
        let server = server
            .or(file.server.filter(|s| !s.is_empty()))
            .unwrap_or_else(|| logstream_shared::DEFAULT_SERVER.to_string());
        Ok(Settings {
            server: server.trim_end_matches('/').to_string(),
            token,
        })
    }
}

/// `$LSCTL_CONFIG`, or `~/.config/logstream/lsctl.toml`, and whether it was
/// named explicitly (then it must exist).
fn config_path() -> Option<(PathBuf, bool)> {
    match std::env::var_os(CONFIG_ENV) {
        Some(path) if !path.is_empty() => Some((PathBuf::from(path), true)),
        _ => dirs::config_dir().map(|dir| (dir.join("logstream").join("lsctl.toml"), false)),
    }
}

fn read_config(path: &Path, explicit: bool) -> anyhow::Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default());
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the config file {}", path.display()));
        }
    };
    // toml's full message quotes the line, which may hold the token.
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| format!(":{}", text[..span.start].matches('\n').count() + 1))
            .unwrap_or_default();
        anyhow::anyhow!(
            "config file {}{line}: {} (keys: server, token)",
            path.display(),
            e.message().trim_end()
        )
    })
}
