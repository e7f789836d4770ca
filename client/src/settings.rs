//! Where a client finds the daemon and its access token: the flags, then
//! the environment variables (both read by the program's clap), then the
//! config file `lsctl.toml`, which configures lsctl and lstui alike, then
//! the defaults.

use std::path::PathBuf;

use logstream_shared::Secret;
use serde::Deserialize;

/// Names the config file instead of the default path.
pub const CONFIG_ENV: &str = "LSCTL_CONFIG";

/// A config file or token that cannot be used, said for the user to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

fn usage(message: String) -> SettingsError {
    SettingsError(message)
}

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    token: Option<Secret>,
}

/// The config file: `$LSCTL_CONFIG`, or `$XDG_CONFIG_HOME/logstream/lsctl.toml`
/// (`~/.config/logstream/lsctl.toml`), and whether it was named explicitly.
fn config_path() -> Option<(PathBuf, bool)> {
    match std::env::var_os(CONFIG_ENV) {
        Some(path) if !path.is_empty() => Some((PathBuf::from(path), true)),
        _ => dirs::config_dir().map(|dir| (dir.join("logstream").join("lsctl.toml"), false)),
    }
}

/// The config file's settings; none when the default file does not exist.
fn read_config(path: &std::path::Path, explicit: bool) -> Result<FileConfig, SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default());
        }
        Err(e) => {
            return Err(usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            )));
        }
    };
    // toml's full message quotes the offending line, which may hold the
    // token: name the line instead.
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start].matches('\n').count() + 1)
            .map(|n| format!(":{n}"))
            .unwrap_or_default();
        usage(format!(
            "config file {}{line}: {} (keys: server, token)",
            path.display(),
            e.message().trim_end()
        ))
    })
}

/// Where the daemon is and what token to send it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: String,
    pub token: Option<Secret>,
    /// Where the token came from, for messages.
    token_source: Option<String>,
    config_file: Option<PathBuf>,
}

impl Settings {
    /// `server` and `token` are what the flags and environment variables
    /// gave, `token_source` which of them gave the token.
    pub fn resolve(
        server: Option<String>,
        token: Option<Secret>,
        token_source: &str,
    ) -> Result<Settings, SettingsError> {
        let server = server.filter(|s| !s.is_empty());
        let token = token.filter(|t| !t.expose().trim().is_empty());
        let config = config_path();
        // A broken config file matters only when something is read from it.
        let file = match &config {
            Some((path, explicit)) if server.is_none() || token.is_none() => {
                read_config(path, *explicit)?
            }
            _ => FileConfig::default(),
        };
        let config_file = config.map(|(path, _)| path);
        let (token, token_source) = match token {
            Some(token) => (Some(token), Some(token_source.to_string())),
            None => match file.token.filter(|t| !t.expose().trim().is_empty()) {
                Some(token) => {
                    let source = config_file.as_ref().map(|p| p.display().to_string());
                    (Some(token), source)
                }
                None => (None, None),
            },
        };
        let token = token.map(|t| Secret::new(t.expose().trim()));
        if let Some(token) = &token {
            // It must fit in an Authorization header as it is.
            if !token.expose().bytes().all(|b| b.is_ascii_graphic()) {
                return Err(usage(format!(
                    "the token from {} has spaces or characters other than printable ASCII",
                    token_source.as_deref().unwrap_or("the config file")
                )));
            }
        }
        Ok(Settings {
            server: server
                .or(file.server.filter(|s| !s.is_empty()))
                .unwrap_or_else(|| logstream_shared::DEFAULT_SERVER.to_string()),
            token,
            token_source,
            config_file,
        })
    }

    /// How to give a (better) token, for when the daemon refused access.
    pub fn token_hint(&self) -> String {
        let config = match &self.config_file {
            Some(path) => format!("`token = \"…\"` in {}", path.display()),
            None => format!("a config file named by {CONFIG_ENV}"),
        };
        let start = match &self.token_source {
            Some(source) => format!("the token from {source} was refused; give another with"),
            None => "no token was given; give one with".to_string(),
        };
        format!("{start} --token, the LOGSTREAM_TOKEN environment variable, or {config}")
    }
}
