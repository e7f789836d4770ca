//! One suite, written once, run against every store backend.

use std::any::Any;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use logstream_shared::Query;
use logstream_shared::api::Direction;
use logstream_shared::query::{Field, Name};
use logstream_shared::{Level, LogRecord};
use logstreamd::store::{
    Cursor, FacetCount, FacetRequest, HistogramCount, HistogramRequest, IdempotencyKey, KnownKey,
    SearchRequest, Selection, Store, counts,
};

/// A store under test and whatever must outlive it (a temp dir, a server).
struct TestStore {
    store: Arc<dyn Store>,
    _guard: Box<dyn Any>,
}

fn at(second: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_714_564_800 + second, nanos).unwrap()
}

fn record(id: &str, second: i64, service: &str, level: Level, message: &str) -> LogRecord {
    LogRecord {
        id: id.into(),
        timestamp: at(second, 0),
        service: service.into(),
        level,
        message: message.into(),
        host: None,
        trace_id: None,
        span_id: None,
        attributes: Default::default(),
    }
}

fn selection(q: &str) -> Selection {
    Selection::from(q.parse::<Query>().unwrap())
}

fn search(q: &str) -> SearchRequest {
    SearchRequest {
        selection: selection(q),
        limit: 1000,
        ..Default::default()
    }
}

async fn ids(store: &dyn Store, request: SearchRequest) -> Vec<String> {
    store
        .search(request)
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn every_field_round_trips_newest_first(t: TestStore) {
    let mut full = record("full", 5, "api", Level::Fatal, "héllo \"wörld\" 🌍");
    full.timestamp = at(5, 123_456_789);
    full.host = Some("host-1".into());
    full.trace_id = Some("trace-1".into());
    full.span_id = Some("span-1".into());
    full.attributes = [
        ("user_id".to_string(), "42".to_string()),
        ("empty".to_string(), String::new()),
    ]
    .into();
    let older = record("older", 1, "web", Level::Trace, "first");
    t.store
        .insert(&[older.clone(), full.clone()])
        .await
        .unwrap();
    t.store.insert(&[]).await.unwrap();
    let page = t.store.search(search("")).await.unwrap();
    assert_eq!(page.records, vec![full.clone(), older]);
    assert_eq!(page.next, None);
    let at = full.timestamp_nanos();
    assert_eq!(
        t.store.record("full", None).await.unwrap().as_ref(),
        Some(&full)
    );
    assert_eq!(t.store.record("full", Some(at)).await.unwrap(), Some(full));
    assert_eq!(t.store.record("full", Some(at + 1)).await.unwrap(), None);
    assert_eq!(t.store.record("missing", None).await.unwrap(), None);
    t.store.health().await.unwrap();
}

async fn filters_match_like_the_query_language_says(t: TestStore) {
    let mut records = vec![
        record(
            "a",
            1,
            "api",
            Level::Debug,
            "Connection refused by upstream",
        ),
        record("b", 2, "api", Level::Error, "timeout after 5s"),
        record("c", 3, "db", Level::Warn, "disk 95% full"),
        record("d", 4, "web", Level::Fatal, "path C:\\temp_dir missing"),
        record("e", 5, "web", Level::Info, "GET /healthcheck 200"),
    ];
    records[0].host = Some("h1".into());
    records[1].host = Some("h2".into());
    records[1].attributes = [("user_id".to_string(), "42".to_string())].into();
    records[2].attributes = [("user_id".to_string(), "7".to_string())].into();
    records[3].trace_id = Some("t-1".into());
    t.store.insert(&records).await.unwrap();
    let s = &*t.store;
    let cases = [
        ("", vec!["e", "d", "c", "b", "a"]),
        ("CONNECTION", vec!["a"]),
        ("\"refused by\"", vec!["a"]),
        ("95%", vec!["c"]),
        ("5%", vec!["c"]),
        ("temp_dir", vec!["d"]),
        ("tem__dir", vec![]),
        ("disk%full", vec![]),
        ("\"C:\\\\temp\"", vec!["d"]),
        ("service:api,db", vec!["c", "b", "a"]),
        ("-service:api", vec!["e", "d", "c"]),
        ("level:error,fatal", vec!["d", "b"]),
        ("level>=warn", vec!["d", "c", "b"]),
        ("level>warn", vec!["d", "b"]),
        ("level<info", vec!["a"]),
        ("level<=info", vec!["e", "a"]),
        ("host:h1,h2", vec!["b", "a"]),
        ("-host:h1", vec!["e", "d", "c", "b"]),
        ("trace:t-1", vec!["d"]),
        ("id:c", vec!["c"]),
        ("user_id=42", vec!["b"]),
        ("-user_id=42", vec!["e", "d", "c", "a"]),
        ("user_id=4", vec![]),
        ("missing=\"\"", vec![]),
        ("service:web -healthcheck", vec!["d"]),
        ("service:api level>=error timeout", vec!["b"]),
    ];
    for (q, expected) in cases {
        assert_eq!(ids(s, search(q)).await, expected, "query {q}");
    }
}

async fn time_ranges_include_since_and_exclude_until(t: TestStore) {
    let records: Vec<_> = (0..10)
        .map(|i| record(&format!("r{i}"), i, "s", Level::Info, "m"))
        .collect();
    t.store.insert(&records).await.unwrap();
    let ns = |second| at(second, 0).timestamp_nanos_opt().unwrap();
    let request = SearchRequest {
        selection: Selection {
            since_ns: Some(ns(3)),
            until_ns: Some(ns(6)),
            ..selection("")
        },
        ..search("")
    };
    assert_eq!(ids(&*t.store, request).await, ["r5", "r4", "r3"]);
}

async fn pages_cover_everything_once_even_with_equal_timestamps(t: TestStore) {
    // 25 records in the same nanosecond, 10 more later: ties break by id.
    let mut records: Vec<_> = (0..25)
        .map(|i| record(&format!("same-{i:02}"), 7, "s", Level::Info, "m"))
        .collect();
    records.extend((0..10).map(|i| record(&format!("later-{i}"), 8 + i, "s", Level::Info, "m")));
    t.store.insert(&records).await.unwrap();
    let backward = all_pages(&*t.store, Direction::Backward).await;
    assert_eq!(backward.len(), 35, "{backward:?}");
    let mut unique = backward.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 35, "no record on two pages");
    assert_eq!(backward[0], "later-9");
    assert_eq!(backward[10], "same-24");
    let mut forward = all_pages(&*t.store, Direction::Forward).await;
    forward.reverse();
    assert_eq!(
        forward, backward,
        "forward pages are the same records, oldest first"
    );
}

/// Every record's id, paging 4 at a time in `direction`.
async fn all_pages(store: &dyn Store, direction: Direction) -> Vec<String> {
    let mut seen = Vec::new();
    let mut request = SearchRequest {
        limit: 4,
        direction,
        ..search("")
    };
    loop {
        let page = store.search(request.clone()).await.unwrap();
        assert!(page.records.len() <= 4);
        seen.extend(page.records.into_iter().map(|r| r.id));
        match page.next {
            Some(cursor) => request.after = Some(cursor),
            None => return seen,
        }
    }
}

async fn a_forward_page_starts_past_a_cursor_from_a_backward_one(t: TestStore) {
    let records: Vec<_> = (0..10)
        .map(|i| record(&format!("r{i}"), i, "s", Level::Info, "m"))
        .collect();
    t.store.insert(&records).await.unwrap();
    let older = SearchRequest {
        limit: 3,
        after: Some(Cursor::of(&records[6])),
        ..search("")
    };
    let page = t.store.search(older).await.unwrap();
    let ids: Vec<_> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r5", "r4", "r3"]);
    // From the first record of that page, forward: what is newer than it.
    let newer = SearchRequest {
        limit: 2,
        after: Some(Cursor::of(&page.records[0])),
        direction: Direction::Forward,
        ..search("")
    };
    let page = t.store.search(newer).await.unwrap();
    let ids: Vec<_> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r6", "r7"]);
    assert_eq!(page.next, Some(Cursor::of(&records[7])));
}

async fn large_batches_are_stored_whole(t: TestStore) {
    let records: Vec<_> = (0..20_000)
        .map(|i| record(&format!("{i:05}"), i % 60, "bulk", Level::Info, "bulk row"))
        .collect();
    t.store.insert(&records).await.unwrap();

    // Every record comes back once, paging with the cursor.
    let mut seen = Vec::new();
    let mut request = SearchRequest {
        limit: 10_000,
        ..search("service:bulk")
    };
    loop {
        let page = t.store.search(request.clone()).await.unwrap();
        seen.extend(page.records.into_iter().map(|r| r.id));
        match page.next {
            Some(cursor) => request.after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 20_000);
    seen.sort();
    let expected: Vec<_> = records.iter().map(|r| r.id.clone()).collect();
    assert!(seen == expected, "some records are missing or twice");

    // And the store counts them all too.
    let request = FacetRequest {
        selection: selection(""),
        name: Name::Field(Field::Service),
        limit: 10,
    };
    let facets = counts::facets(t.store.as_ref(), &request).await.unwrap();
    assert_eq!(
        facets,
        [FacetCount {
            value: "bulk".into(),
            count: 20_000
        }]
    );
}

async fn histograms_count_per_bucket_and_level(t: TestStore) {
    let mut records = Vec::new();
    for (i, level) in [
        Level::Info,
        Level::Info,
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Error,
    ]
    .into_iter()
    .enumerate()
    {
        // Seconds 0, 10, 20 … 50 from the base time; buckets of 30 s.
        records.push(record(
            &format!("h{i}"),
            10 * i as i64,
            if i % 2 == 0 { "api" } else { "db" },
            level,
            "m",
        ));
    }
    t.store.insert(&records).await.unwrap();
    let base = at(0, 0).timestamp_nanos_opt().unwrap();
    let step_ns = 30_000_000_000;
    let request = HistogramRequest {
        selection: selection("-service:old"),
        step_ns,
    };
    let counts = counts::histogram(t.store.as_ref(), &request).await.unwrap();
    let bucket = |n: i64| (base / step_ns + n) * step_ns;
    let count = |n, level, count| HistogramCount {
        bucket_start_ns: bucket(n),
        level,
        count,
    };
    // base is a multiple of 30 s plus 0 (1714564800 = 57152160 * 30).
    assert_eq!(
        counts,
        vec![
            count(0, Level::Info, 2),
            count(0, Level::Error, 1),
            count(1, Level::Info, 1),
            count(1, Level::Warn, 1),
            count(1, Level::Error, 1),
        ]
    );
    let filtered = HistogramRequest {
        selection: Selection {
            since_ns: Some(base + 15_000_000_000),
            ..selection("service:api")
        },
        step_ns,
    };
    let counts = counts::histogram(t.store.as_ref(), &filtered)
        .await
        .unwrap();
    assert_eq!(
        counts,
        vec![count(0, Level::Error, 1), count(1, Level::Info, 1)]
    );

    // Before 1970 buckets still start at or before their records.
    let mut old = record("old", 0, "old", Level::Warn, "m");
    old.timestamp = Utc.timestamp_opt(-15, 0).unwrap();
    t.store.insert(&[old]).await.unwrap();
    let step_ns = 10_000_000_000;
    let request = HistogramRequest {
        selection: selection("service:old"),
        step_ns,
    };
    let counts = counts::histogram(t.store.as_ref(), &request).await.unwrap();
    assert_eq!(
        counts,
        vec![HistogramCount {
            bucket_start_ns: -20_000_000_000,
            level: Level::Warn,
            count: 1
        }]
    );
}

async fn facets_count_the_most_frequent_values(t: TestStore) {
    let mut records = Vec::new();
    for i in 0..10 {
        let service = ["api", "api", "api", "db", "db", "web"][i % 6];
        let level = if i < 3 { Level::Error } else { Level::Info };
        let mut r = record(&format!("f{i}"), i as i64, service, level, "m");
        r.host = (i % 2 == 0).then(|| "h1".to_string());
        records.push(r);
    }
    t.store.insert(&records).await.unwrap();
    let facets = |name, q: &str, limit| FacetRequest {
        selection: selection(q),
        name,
        limit,
    };
    let count = |value: &str, count| FacetCount {
        value: value.into(),
        count,
    };
    let s = &t.store;
    assert_eq!(
        counts::facets(s.as_ref(), &facets(Name::Field(Field::Service), "", 10))
            .await
            .unwrap(),
        vec![count("api", 6), count("db", 3), count("web", 1)]
    );
    assert_eq!(
        counts::facets(s.as_ref(), &facets(Name::Field(Field::Service), "", 2))
            .await
            .unwrap(),
        vec![count("api", 6), count("db", 3)]
    );
    assert_eq!(
        counts::facets(s.as_ref(), &facets(Name::Level, "", 10))
            .await
            .unwrap(),
        vec![count("INFO", 7), count("ERROR", 3)]
    );
    assert_eq!(
        counts::facets(s.as_ref(), &facets(Name::Field(Field::Host), "", 10))
            .await
            .unwrap(),
        vec![count("h1", 5)],
        "records without a host are not counted"
    );
    assert_eq!(
        counts::facets(
            s.as_ref(),
            &facets(Name::Field(Field::Service), "level:error", 10)
        )
        .await
        .unwrap(),
        vec![count("api", 3)]
    );
}

async fn attribute_names_count_the_records_that_have_them(t: TestStore) {
    let mut records = Vec::new();
    for i in 0..6 {
        let mut r = record(
            &format!("a{i}"),
            i as i64,
            ["api", "web"][i % 2],
            Level::Info,
            "m",
        );
        r.attributes.insert("user_id".into(), i.to_string());
        if i < 2 {
            r.attributes.insert("path".into(), "/x".into());
        }
        if i == 5 {
            r.attributes.insert("zone".into(), "z".into());
        }
        records.push(r);
    }
    t.store.insert(&records).await.unwrap();
    let count = |value: &str, count| FacetCount {
        value: value.into(),
        count,
    };
    let s = &t.store;
    assert_eq!(
        s.attribute_names(selection(""), 10).await.unwrap(),
        vec![count("user_id", 6), count("path", 2), count("zone", 1)]
    );
    assert_eq!(
        s.attribute_names(selection("service:web"), 2)
            .await
            .unwrap(),
        vec![count("user_id", 3), count("path", 1)]
    );
    assert_eq!(
        s.attribute_names(selection("nothing-here"), 10)
            .await
            .unwrap(),
        vec![]
    );
}

async fn retention_drops_whole_old_days(t: TestStore) {
    let s = &*t.store;
    const DAY: i64 = 86_400;
    // `at(0)` is 2024-05-01T12:00:00Z; days before it, one of them before 1970.
    let mut ancient = record("ancient", 0, "api", Level::Info, "before 1970");
    ancient.timestamp = Utc.timestamp_opt(-DAY, 0).unwrap();
    let records = vec![
        ancient,
        record("three", -3 * DAY, "api", Level::Info, "three days ago"),
        record(
            "two-late",
            -2 * DAY + 11 * 3600,
            "api",
            Level::Info,
            "23:00 two days ago",
        ),
        record(
            "one-early",
            -DAY - 12 * 3600,
            "api",
            Level::Info,
            "00:00 yesterday",
        ),
        record("today", 0, "api", Level::Info, "today"),
    ];
    s.insert(&records).await.unwrap();
    let yesterday = at(-DAY, 0).date_naive();
    s.drop_days_before(yesterday).await.unwrap();
    assert_eq!(ids(s, search("")).await, ["today", "one-early"]);
    // Nothing older is left: dropping again changes nothing.
    s.drop_days_before(yesterday).await.unwrap();
    assert_eq!(ids(s, search("")).await, ["today", "one-early"]);
}

/// What the ingest pipelines store one copy of a retried request by: the
/// records and their keys stored together, the keys found again after.
async fn idempotency_keys_are_remembered_with_their_records(t: TestStore) {
    let s = &*t.store;
    let key = |name: &str, ids: &[&str]| IdempotencyKey {
        key: name.into(),
        fingerprint: format!("digest of {name}"),
        ids: ids.iter().map(|id| id.to_string()).collect(),
    };
    let records = [
        record("k1", 1, "api", Level::Info, "one"),
        record("k2", 2, "api", Level::Info, "two"),
    ];
    s.insert_keyed(&records, &[key("first", &["k1", "k2"]), key("second", &[])])
        .await
        .unwrap();
    assert_eq!(ids(s, search("")).await, ["k2", "k1"]);
    let known = s
        .known_keys(&["first".into(), "second".into(), "never".into()])
        .await
        .unwrap();
    assert_eq!(known.len(), 2, "{known:?}");
    let first = KnownKey {
        fingerprint: "digest of first".into(),
        ids: Some(vec!["k1".into(), "k2".into()]),
    };
    assert_eq!(known["first"], first);
    assert_eq!(known["second"].ids, Some(vec![]));
}

macro_rules! store_suite {
    ($open:expr $(, #[$attr:meta])* $(,)?) => {
        #[tokio::test]
        $(#[$attr])*
        async fn every_field_round_trips_newest_first() {
            super::every_field_round_trips_newest_first($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn filters_match_like_the_query_language_says() {
            super::filters_match_like_the_query_language_says($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn time_ranges_include_since_and_exclude_until() {
            super::time_ranges_include_since_and_exclude_until($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn pages_cover_everything_once_even_with_equal_timestamps() {
            super::pages_cover_everything_once_even_with_equal_timestamps($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn a_forward_page_starts_past_a_cursor_from_a_backward_one() {
            super::a_forward_page_starts_past_a_cursor_from_a_backward_one($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn histograms_count_per_bucket_and_level() {
            super::histograms_count_per_bucket_and_level($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn facets_count_the_most_frequent_values() {
            super::facets_count_the_most_frequent_values($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn attribute_names_count_the_records_that_have_them() {
            super::attribute_names_count_the_records_that_have_them($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn large_batches_are_stored_whole() {
            super::large_batches_are_stored_whole($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn idempotency_keys_are_remembered_with_their_records() {
            super::idempotency_keys_are_remembered_with_their_records($open).await
        }
        #[tokio::test]
        $(#[$attr])*
        async fn retention_drops_whole_old_days() {
            super::retention_drops_whole_old_days($open).await
        }
    };
}

mod duckdb {
    use super::TestStore;

    async fn open() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("duckdb://{}", dir.path().join("logs.duckdb").display());
        let store = logstreamd::store::open(&url).await.unwrap();
        TestStore {
            store,
            _guard: Box::new(dir),
        }
    }

    store_suite!(open().await);

    /// A database from before `ingest_keys` found its records' ids opens
    /// with that added: its keys are known without ids, new ones with theirs
    /// (found again from the records by their `seq` range).
    #[tokio::test]
    async fn idempotency_keys_from_before_their_ids_are_still_known() {
        use chrono::Utc;
        use logstreamd::store::{IdempotencyKey, KnownKey};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.duckdb");
        let now = Utc::now().timestamp_nanos_opt().unwrap();
        duckdb::Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TABLE ingest_keys (key VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL, \
                 stored_at BIGINT NOT NULL); INSERT INTO ingest_keys VALUES ('old', 'f1', {now})"
            ))
            .unwrap();
        let url = format!("duckdb://{}", path.display());
        let store = logstreamd::store::open(&url).await.unwrap();
        let new = IdempotencyKey {
            key: "new".into(),
            fingerprint: "f2".into(),
            ids: vec!["a".into(), "b".into()],
        };
        let records = [
            super::record("a", 1, "api", logstream_shared::Level::Info, "first"),
            super::record("b", 2, "api", logstream_shared::Level::Info, "second"),
        ];
        store.insert_keyed(&records, &[new]).await.unwrap();
        let known = store
            .known_keys(&["old".into(), "new".into(), "none".into()])
            .await
            .unwrap();
        assert_eq!(known.len(), 2);
        let old = KnownKey {
            fingerprint: "f1".into(),
            ids: None,
        };
        assert_eq!(known["old"], old);
        assert_eq!(
            known["new"].ids,
            Some(vec!["a".to_string(), "b".to_string()])
        );
    }
}

mod clickhouse {
    use logstream_testkit::services;

    use super::TestStore;

    async fn open() -> TestStore {
        let url = services::clickhouse_store_url(&services::unique("suite"));
        let store = logstreamd::store::open(&url).await.unwrap();
        TestStore {
            store,
            _guard: Box::new(()),
        }
    }

    store_suite!(
        open().await,
        #[ignore = "needs ClickHouse: scripts/test starts it"]
    );
}
