//! The model every LogStream program speaks: records and levels, the query
//! language, time bounds, the HTTP API's bodies and secrets that are never printed.

pub mod api;
pub mod cursor;
pub mod level;
pub mod query;
pub mod record;
pub mod secret;
pub mod time;

pub use cursor::Cursor;
pub use level::{Level, UnknownLevel};
pub use query::{Query, QueryError};
pub use record::{FieldError, JsonObject, LogRecord, json_object, record_from_json, validate};
pub use secret::Secret;

/// The daemon's default address (the seed's port).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:3000";
