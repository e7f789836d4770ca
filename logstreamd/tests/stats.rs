//! `GET /api/stats/histogram` and `GET /api/stats/facets` through a real daemon.

use logstream_shared::Level;
use logstream_shared::api::{ErrorBody, Facets, Histogram};
use logstream_testkit::{TestDaemon, get_json};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn seeded() -> (TestDaemon, reqwest::Client) {
    let daemon = TestDaemon::start();
    let client = reqwest::Client::new();
    // 12:00:00 to 12:02:50, one record every 10 s.
    let records: Vec<Value> = (0..18)
        .map(|i| {
            let service = ["api", "db", "api"][i % 3];
            json!({
                "service": service,
                "level": if i % 4 == 0 { "error" } else { "info" },
                "host": if i % 2 == 0 { Some("h1") } else { None },
                "message": format!("m{i}"),
                "timestamp": format!("2024-05-01T12:{:02}:{:02}Z", i * 10 / 60, i * 10 % 60),
                "attributes": {"shard": format!("s{}", i % 3 / 2)},
            })
        })
        .collect();
    let response = client
        .post(daemon.at("/api/ingest"))
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    (daemon, client)
}

fn counts(facets: &Facets) -> Vec<(&str, u64)> {
    facets
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.count))
        .collect()
}

#[tokio::test]
async fn histogram_has_every_bucket_with_counts_per_level() {
    let (daemon, client) = seeded().await;
    let range = [
        ("since", "2024-05-01T12:00:00Z"),
        ("until", "2024-05-01T12:04:00Z"),
    ];
    let h: Histogram = get_json(
        &client,
        &daemon,
        "/api/stats/histogram",
        &[range[0], range[1], ("step", "1m")],
    )
    .await;
    assert_eq!(h.step, "1m");
    let totals: Vec<u64> = h.buckets.iter().map(|b| b.total).collect();
    assert_eq!(totals, [6, 6, 6, 0], "the empty last minute is there too");
    assert_eq!(h.buckets[0].start.to_rfc3339(), "2024-05-01T12:00:00+00:00");
    // Errors at i = 0, 4 in the first minute.
    assert_eq!(h.buckets[0].counts[&Level::Error], 2);
    assert_eq!(h.buckets[0].counts[&Level::Info], 4);

    let h: Histogram = get_json(
        &client,
        &daemon,
        "/api/stats/histogram",
        &[range[0], range[1], ("q", "service:db level:info")],
    )
    .await;
    assert_eq!(h.step, "5s", "about 60 buckets by default");
    assert_eq!(h.buckets.len(), 48);
    assert_eq!(h.buckets.iter().map(|b| b.total).sum::<u64>(), 4);
}

#[tokio::test]
async fn facets_list_top_values_with_counts() {
    let (daemon, client) = seeded().await;
    let f: Facets = get_json(
        &client,
        &daemon,
        "/api/stats/facets",
        &[("field", "service")],
    )
    .await;
    assert_eq!(counts(&f), [("api", 12), ("db", 6)]);
    let f: Facets = get_json(
        &client,
        &daemon,
        "/api/stats/facets",
        &[("field", "level"), ("q", "service:api")],
    )
    .await;
    assert_eq!(counts(&f), [("INFO", 9), ("ERROR", 3)]);
    let f: Facets = get_json(
        &client,
        &daemon,
        "/api/stats/facets",
        &[("field", "host"), ("limit", "1")],
    )
    .await;
    assert_eq!(f.values.len(), 1);
    assert_eq!((f.values[0].value.as_str(), f.values[0].count), ("h1", 9));

    // Any attribute, by its bare name or as attr.NAME.
    for field in ["shard", "attr.shard"] {
        let f: Facets = get_json(&client, &daemon, "/api/stats/facets", &[("field", field)]).await;
        assert_eq!(counts(&f), [("s0", 12), ("s1", 6)], "{field}");
    }
    let fields: logstream_shared::api::FieldList =
        get_json(&client, &daemon, "/api/fields", &[("q", "service:db")]).await;
    assert_eq!(fields.fields.len(), 1);
    assert_eq!(
        (fields.fields[0].name.as_str(), fields.fields[0].count),
        ("shard", 6)
    );
}

#[tokio::test]
async fn bad_stats_requests_say_what_is_accepted() {
    let (daemon, client) = seeded().await;
    let cases = [
        (
            "/api/stats/facets",
            vec![("field", "")],
            "field",
            "name a field or an attribute",
        ),
        (
            "/api/stats/facets",
            vec![("limit", "0")],
            "limit",
            "accepted: 1 to 1000",
        ),
        (
            "/api/stats/histogram",
            vec![("step", "soon")],
            "step",
            "like 10s",
        ),
        (
            "/api/stats/histogram",
            vec![("since", "30d"), ("step", "1s")],
            "step",
            "at most 10000",
        ),
        (
            "/api/stats/histogram",
            vec![("since", "now"), ("until", "1h")],
            "since",
            "before until",
        ),
    ];
    for (path, params, field, needle) in cases {
        let response = client
            .get(daemon.at(path))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{path} {params:?}"
        );
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.details[0].field, field, "{path} {params:?}");
        assert!(
            body.error.contains(needle),
            "{path} {params:?}: {}",
            body.error
        );
    }
}
