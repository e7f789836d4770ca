//! Protobuf types that are not in a crate: Loki's push API, generated at
//! build time from `proto/loki/push.proto` (see `build.rs`).

/// Loki's `logproto` package: `PushRequest`, `StreamAdapter`, `EntryAdapter`.
#[allow(dead_code, unreachable_pub, missing_debug_implementations, clippy::all)]
pub mod logproto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}
