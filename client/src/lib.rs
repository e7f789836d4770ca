//! The LogStream daemon's HTTP API as its clients (lsctl, lstui) use it:
//! where the daemon is and which token to send ([`Settings`]), one HTTP
//! [`Client`] with the token and the error mapping ([`ApiFailure`]), the
//! waits between retries ([`Backoff`]), and the live tail's events
//! ([`TailEvent`]).

mod backoff;
mod http;
mod settings;
mod tail;

pub use backoff::Backoff;
pub use http::{ApiFailure, Client, describe_error};
pub use settings::{CONFIG_ENV, Settings, SettingsError};
pub use tail::TailEvent;
