//! Protobuf types that are not in a crate: Loki's push API, generated at
//! build time from `proto/loki/push.proto` (see `build.rs`).

/// Loki's `logproto` package: `PushRequest`, `StreamAdapter`, `EntryAdapter`.
#[allow(dead_code, unreachable_pub, missing_debug_implementations, clippy::all)]
pub mod logproto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}

/// Calls `found` with each length-delimited field numbered `tag` of a
/// protobuf message (an embedded message, a string or bytes), read from the
/// wire without decoding the message: cheap, for counting what a body holds
/// before decoding it. Stops at the first malformed field; the decoder then
/// says what is wrong with it.
pub(crate) fn each_embedded<'a>(message: &'a [u8], tag: u32, mut found: impl FnMut(&'a [u8])) {
    use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
    let mut rest = message;
    while !rest.is_empty() {
        let Ok((field, wire_type)) = decode_key(&mut rest) else {
            return;
        };
        if wire_type != WireType::LengthDelimited {
            if skip_field(wire_type, field, &mut rest, DecodeContext::default()).is_err() {
                return;
            }
            continue;
        }
        let length = decode_varint(&mut rest)
            .ok()
            .and_then(|l| usize::try_from(l).ok());
        let Some(length) = length.filter(|l| *l <= rest.len()) else {
            return;
        };
        let (bytes, after) = rest.split_at(length);
        if field == tag {
            found(bytes);
        }
        rest = after;
    }
}
