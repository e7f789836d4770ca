//! `scripts/bench --protocols`: records/s of the same records sent as OTLP
//! protobuf (`/v1/logs`) and as Loki snappy protobuf (`/loki/api/v1/push`),
//! beside the baseline of native NDJSON (`/api/ingest`), each into a fresh
//! daemon in the same run, with batches of the same size and the same
//! number of concurrent clients. Bodies are encoded before the clock starts,
//! as a shipper would have them ready.

use std::collections::BTreeMap;

use bytes::Bytes;
use logstream_shared::LogRecord;
use logstream_testkit::TestDaemon;
use logstreamd::proto::logproto;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use crate::{BATCH, ndjson, post_all, rate};

pub(crate) async fn run(records: &[LogRecord], clients: usize) -> anyhow::Result<()> {
    let chunks = || records.chunks(BATCH);
    let cases: [(&str, &str, &'static str, Vec<Bytes>); 3] = [
        (
            "baseline: NDJSON, POST /api/ingest",
            "/api/ingest",
            "application/x-ndjson",
            chunks().map(ndjson).collect(),
        ),
        (
            "OTLP protobuf, POST /v1/logs",
            "/v1/logs",
            "application/x-protobuf",
            chunks().map(otlp).collect(),
        ),
        (
            "Loki snappy protobuf, POST /loki/api/v1/push",
            "/loki/api/v1/push",
            "application/x-protobuf",
            chunks().map(loki).collect(),
        ),
    ];
    println!();
    println!(
        "{:<58} {:>12} {:>12}",
        format!("ingest, {BATCH}-record batches, {clients} clients"),
        "logs/s",
        "vs NDJSON"
    );
    let mut baseline = None;
    for (name, path, content_type, bodies) in cases {
        let daemon = TestDaemon::start();
        let bodies = bodies.into_iter().map(|b| (b, content_type)).collect();
        let (elapsed, _) = post_all(&daemon.at(path), bodies, clients).await;
        let logs_per_second = rate(records.len(), elapsed);
        let base = *baseline.get_or_insert(logs_per_second);
        println!(
            "{name:<58} {logs_per_second:>12.0} {:>11.3}x",
            logs_per_second / base
        );
    }
    Ok(())
}

/// One request: a resource per service and host, as an SDK or the
/// Collector groups them, with the record's attributes on each record.
fn otlp(records: &[LogRecord]) -> Bytes {
    let text = |key: &str, value: &str| KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    };
    let mut resources: BTreeMap<(&str, &str), Vec<OtlpRecord>> = BTreeMap::new();
    for r in records {
        let host = r.host.as_deref().unwrap_or_default();
        resources
            .entry((&r.service, host))
            .or_default()
            .push(OtlpRecord {
                time_unix_nano: r.timestamp_nanos() as u64,
                severity_text: r.level.to_string(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(r.message.clone())),
                }),
                attributes: r.attributes.iter().map(|(k, v)| text(k, v)).collect(),
                ..Default::default()
            });
    }
    let resource_logs = resources
        .into_iter()
        .map(|((service, host), log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", service), text("host.name", host)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
        .encode_to_vec()
        .into()
}

/// One request: a stream per service, level and host (Loki's labels), the
/// attributes as structured metadata, snappy-compressed as Promtail sends.
fn loki(records: &[LogRecord]) -> Bytes {
    let mut streams: BTreeMap<String, Vec<logproto::EntryAdapter>> = BTreeMap::new();
    for r in records {
        let labels = format!(
            "{{service_name=\"{}\", level=\"{}\", host=\"{}\"}}",
            r.service,
            r.level.as_str().to_lowercase(),
            r.host.as_deref().unwrap_or_default()
        );
        let nanos = r.timestamp_nanos();
        streams
            .entry(labels)
            .or_default()
            .push(logproto::EntryAdapter {
                timestamp: Some(prost_types::Timestamp {
                    seconds: nanos.div_euclid(1_000_000_000),
                    nanos: nanos.rem_euclid(1_000_000_000) as i32,
                }),
                line: r.message.clone(),
                structured_metadata: r
                    .attributes
                    .iter()
                    .map(|(k, v)| logproto::LabelPairAdapter {
                        name: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                parsed: Vec::new(),
            });
    }
    let request = logproto::PushRequest {
        streams: streams
            .into_iter()
            .map(|(labels, entries)| logproto::StreamAdapter {
                labels,
                entries,
                hash: 0,
            })
            .collect(),
        format: String::new(),
    };
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input")
        .into()
}
