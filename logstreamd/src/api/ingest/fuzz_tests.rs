//! The protocol decoders under fuzz-style property tests (see
//! `crate::fuzzing`): each is fed its protocol's valid bodies, mutated, and
//! arbitrary bytes, and must neither panic nor take more memory than a
//! bound linear in the body: what the body's share of the ingest budget
//! ([`MEMORY_PER_BODY_BYTE`] per byte) holds, with the decoded records
//! charged to it as a request charges them. A body whose records would take
//! more is refused, not decoded whole (the amplification tests below).

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message as _;

use super::otlp::Encoding;
use super::{ApiError, MEMORY_PER_BODY_BYTE, elastic, loki, native, otlp, with_record_memory};
use crate::fuzzing::{SLACK, assert_memory_within, mutated, peak_memory};
use crate::proto::logproto;

/// Peak memory per body byte, beyond the records' charge: the parsed
/// intermediate (JSON values, protobuf messages), whose empty objects take
/// tens of times the bytes that encode them.
const PER_BYTE: u64 = 4 * MEMORY_PER_BODY_BYTE as u64;

fn received() -> DateTime<Utc> {
    "2026-12-02T12:00:00Z".parse().unwrap()
}

/// The records' account for a body of `len` bytes: its share of the budget.
fn share(len: usize) -> usize {
    len * MEMORY_PER_BODY_BYTE
}

fn native_ndjson(body: &[u8]) -> Result<usize, ApiError> {
    let parsed = native::parse_ndjson(body)?;
    let names = native::FieldNames::default();
    let (records, _) = native::records_of(parsed, &names, received(), true)?;
    Ok(records.len())
}

fn native_json(body: &[u8]) -> Result<usize, ApiError> {
    let parsed = native::parse_json(body)?;
    let names = native::FieldNames::default();
    let (records, _) = native::records_of(parsed, &names, received(), true)?;
    Ok(records.len())
}

fn otlp_body(encoding: Encoding, body: &[u8]) -> Result<usize, ApiError> {
    otlp_body_within(share(body.len()), encoding, body)
}

/// Decodes an OTLP body with `most` bytes for its records.
fn otlp_body_within(most: usize, encoding: Encoding, body: &[u8]) -> Result<usize, ApiError> {
    with_record_memory(most, |memory| {
        let request = otlp::decode(encoding, body, memory)?;
        otlp::records_of(request, received(), true, memory).map(|(records, _)| records.len())
    })
}

/// A snappy body's share is that of its compressed bytes and of what they
/// decompress to.
fn loki_protobuf(body: &[u8]) -> Result<usize, ApiError> {
    let decompressed = snap::raw::decompress_len(body).unwrap_or(0);
    with_record_memory(share(body.len() + decompressed), |memory| {
        let streams = loki::protobuf_streams(body, 16 << 20, memory)?;
        loki::records_of(streams, received(), true, memory).map(|(records, _)| records.len())
    })
}

fn loki_json(body: &[u8]) -> Result<usize, ApiError> {
    let streams = loki::json_streams(body)?;
    with_record_memory(share(body.len()), |memory| {
        loki::records_of(streams, received(), true, memory).map(|(records, _)| records.len())
    })
}

fn elastic_bulk(body: &[u8]) -> Result<usize, ApiError> {
    let (items, _) = elastic::parse_bulk(body, Some("logs"), received(), true)?;
    Ok(items.len())
}

fn texts(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

const NATIVE: [&str; 3] = [
    r#"{"service":"api","level":"ERROR","message":"boom","timestamp":"2026-12-02T11:00:00.123Z","attributes":{"user_id":12345678901234567890,"ok":true,"nested":{"a":[1,2]}}}"#,
    r#"{"service":"web","message":"time=2026-12-02T11:00:00Z level=warn msg=\"slow\"","host":"h1","trace_id":"abc"}"#,
    r#"{"message":"{\"level\":\"debug\",\"msg\":\"inner\"}","id":"r-1"}"#,
];

const OTLP_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"host.name","value":{"stringValue":"h1"}},{"key":"k8s.pod.uid","value":{"stringValue":"d2c1"}}]},"scopeLogs":[{"scope":{"name":"app","version":"1.2"},"logRecords":[{"timeUnixNano":"1764676800000000000","severityNumber":17,"severityText":"ERROR","body":{"stringValue":"payment failed"},"attributes":[{"key":"order","value":{"intValue":"42"}},{"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"doubleValue":1.5}]}}}],"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"},{"observedTimeUnixNano":"1764676800000000001","body":{"kvlistValue":{"values":[{"key":"x","value":{"boolValue":true}}]}},"eventName":"e"}]}]}]}"#;

const LOKI_JSON: &str = r#"{"streams":[{"stream":{"app":"api","level":"warn","host":"h1","env":"prod"},"values":[["1764676800000000000","GET /x 500"],["1764676800000000001","with metadata",{"trace_id":"t1","user":"u"}]]},{"stream":{"job":"cron"},"values":[["1764676800000000002","{\"level\":\"error\",\"msg\":\"x\"}"]]}]}"#;

const ELASTIC: &str = concat!(
    r#"{"index":{"_index":"logs","_id":"1"}}"#,
    "\n",
    r#"{"@timestamp":"2026-12-02T11:00:00Z","message":"boom","log":{"level":"error"},"service":{"name":"api"},"host":{"name":"h1"},"n":12345678901234567890}"#,
    "\n",
    r#"{"create":{}}"#,
    "\n",
    r#"{"msg":"plain","level":"info","trace.id":"abc"}"#,
    "\n",
    r#"{"delete":{"_id":"2"}}"#,
    "\n",
);

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn otlp_request(resource: Vec<KeyValue>, records: Vec<OtlpRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn otlp_protobuf_example() -> Vec<u8> {
    let json: ExportLogsServiceRequest = serde_json::from_str(OTLP_JSON).unwrap();
    json.encode_to_vec()
}

fn loki_request() -> logproto::PushRequest {
    let entry = |seconds, line: &str| logproto::EntryAdapter {
        timestamp: Some(prost_types::Timestamp { seconds, nanos: 5 }),
        line: line.into(),
        structured_metadata: vec![logproto::LabelPairAdapter {
            name: "trace_id".into(),
            value: "t1".into(),
        }],
        parsed: Vec::new(),
    };
    logproto::PushRequest {
        streams: vec![logproto::StreamAdapter {
            labels: r#"{app="api", level="error", path="a\"b\\c"}"#.into(),
            entries: vec![entry(1_764_676_800, "boom"), entry(1, "level=warn msg=x")],
            hash: 0,
        }],
        format: String::new(),
    }
}

fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).unwrap()
}

/// Loki bodies mutated before compression (so that they reach the protobuf
/// decoder), and now and then after it.
fn loki_protobuf_body() -> impl Strategy<Value = Vec<u8>> {
    let raw = loki_request().encode_to_vec();
    prop_oneof![
        4 => mutated(vec![raw]).prop_map(|bytes| snappy(&bytes)),
        1 => mutated(vec![snappy(&loki_request().encode_to_vec())]),
    ]
}

proptest! {
    #[test]
    fn native_bodies_decode_within_memory(
        ndjson in mutated(vec![NATIVE.join("\n").into_bytes()]),
        json in mutated(texts(&[NATIVE[0], &format!("[{}]", NATIVE.join(","))])),
    ) {
        assert_memory_within((PER_BYTE, SLACK), &ndjson, native_ndjson)?;
        assert_memory_within((PER_BYTE, SLACK), &json, native_json)?;
    }

    #[test]
    fn otlp_bodies_decode_within_memory(
        protobuf in mutated(vec![otlp_protobuf_example()]),
        json in mutated(texts(&[OTLP_JSON])),
    ) {
        assert_memory_within((PER_BYTE, SLACK), &protobuf, |b| otlp_body(Encoding::Protobuf, b))?;
        assert_memory_within((PER_BYTE, SLACK), &json, |b| otlp_body(Encoding::Json, b))?;
    }

    #[test]
    fn loki_bodies_decode_within_memory(
        protobuf in loki_protobuf_body(),
        json in mutated(texts(&[LOKI_JSON])),
    ) {
        assert_memory_within((PER_BYTE, SLACK), &protobuf, loki_protobuf)?;
        assert_memory_within((PER_BYTE, SLACK), &json, loki_json)?;
    }

    #[test]
    fn elastic_bulk_bodies_decode_within_memory(body in mutated(texts(&[ELASTIC]))) {
        assert_memory_within((PER_BYTE, SLACK), &body, elastic_bulk)?;
    }
}

/// A small body whose resource attributes every one of its many records
/// repeats: decoded whole it would take gigabytes.
#[test]
fn otlp_records_repeating_their_resource_are_refused_within_memory() {
    let resource = (0..60)
        .map(|i| string_attribute(&format!("k8s.label.{i}"), &"v".repeat(1000)))
        .collect();
    let records = vec![OtlpRecord::default(); 100_000];
    let body = otlp_request(resource, records).encode_to_vec();
    assert!(body.len() < 300_000, "{}", body.len());
    let (measured, answer) = peak_memory(|| otlp_body(Encoding::Protobuf, &body));
    let Err(ApiError::PayloadTooLarge(message)) = answer else {
        panic!("a 413, not {answer:?}");
    };
    assert!(message.contains("send fewer records"), "{message}");
    let bound = PER_BYTE * body.len() as u64 + SLACK;
    assert!(measured <= bound, "{measured} > {bound}");
}

/// The same through Loki: a stream's labels, repeated by each entry.
#[test]
fn loki_entries_repeating_their_labels_are_refused_within_memory() {
    let labels: Vec<String> = (0..60)
        .map(|i| format!("l{i}=\"{}\"", "v".repeat(1000)))
        .collect();
    let request = logproto::PushRequest {
        streams: vec![logproto::StreamAdapter {
            labels: format!("{{app=\"a\", {}}}", labels.join(", ")),
            entries: vec![logproto::EntryAdapter::default(); 100_000],
            hash: 0,
        }],
        format: String::new(),
    };
    let body = snappy(&request.encode_to_vec());
    let (measured, answer) = peak_memory(|| loki_protobuf(&body));
    assert!(
        matches!(answer, Err(ApiError::PayloadTooLarge(_))),
        "a 413, not {answer:?}"
    );
    let decompressed = request.encoded_len() as u64;
    let bound = PER_BYTE * decompressed + SLACK;
    assert!(measured <= bound, "{measured} > {bound}");
}

/// Records sharing a few attributes, as real batches do, are taken.
#[test]
fn otlp_records_sharing_a_typical_resource_are_taken() {
    let resource = (0..20)
        .map(|i| string_attribute(&format!("k8s.{i}"), "value-of-a-label"))
        .collect();
    let record = OtlpRecord {
        body: Some(AnyValue {
            value: Some(Value::StringValue("GET /api/orders 200 12ms".into())),
        }),
        ..Default::default()
    };
    let body = otlp_request(resource, vec![record; 1000]).encode_to_vec();
    // As the daemon has it by default: what its largest body may hold.
    let most = 16 * 1024 * 1024 * MEMORY_PER_BODY_BYTE;
    assert_eq!(
        otlp_body_within(most, Encoding::Protobuf, &body).unwrap(),
        1000
    );
}
