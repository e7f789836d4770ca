use super::*;
use proptest::prelude::*;

fn text(s: &str) -> Expr {
    Expr::Filter(Filter::Text(s.into()))
}

fn attribute(key: &str, test: Test) -> Expr {
    Expr::Filter(Filter::Attribute {
        key: key.into(),
        test,
    })
}

fn any_of(values: &[&str]) -> Test {
    Test::AnyOf(values.iter().map(|v| v.to_string()).collect())
}

fn field(field: Field, values: &[&str]) -> Expr {
    Expr::Filter(Filter::Field {
        field,
        test: any_of(values),
    })
}

fn filter_of(q: &str) -> Expr {
    parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).filter
}

#[test]
fn queries_past_the_term_limit_are_refused_where_they_pass_it() {
    let words: Vec<String> = (0..MAX_QUERY_TERMS).map(|i| format!("w{i}")).collect();
    let Expr::And(all) = filter_of(&words.join(" ")) else {
        panic!("an AND of words")
    };
    assert_eq!(all.len(), MAX_QUERY_TERMS);
    let one_more = format!("{} last", words.join(" "));
    let error = parse(&one_more).unwrap_err();
    assert!(error.message.contains("at most 1000"), "{}", error.message);
    assert_eq!(error.column, one_more.len() - "last".len() + 1);
    let values: Vec<String> = (0..=MAX_QUERY_TERMS).map(|i| format!("s{i}")).collect();
    let error = parse(&format!("service:{}", values.join(","))).unwrap_err();
    assert_eq!(error.column, 1);
    assert!(parse(&format!("k=v {}", "x=y ".repeat(998))).is_ok());
}

#[test]
fn queries_nested_past_the_limit_are_refused_where_they_pass_it() {
    let deepest = format!(
        "{}a{}",
        "(NOT ".repeat(MAX_QUERY_NESTING / 2),
        ")".repeat(MAX_QUERY_NESTING / 2)
    );
    let mut tree = filter_of(&deepest);
    for _ in 0..MAX_QUERY_NESTING / 2 {
        let Expr::Not(inner) = tree else {
            panic!("NOT")
        };
        tree = *inner;
    }
    assert_eq!(tree, text("a"));
    let deeper = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
    let error = parse(&deeper).unwrap_err();
    assert!(error.message.contains("at most 64"), "{}", error.message);
    assert_eq!(error.column, MAX_QUERY_NESTING + 1);
    let nots = parse(&format!("{}a", "NOT ".repeat(MAX_QUERY_NESTING + 1))).unwrap_err();
    assert_eq!(nots.column, 4 * MAX_QUERY_NESTING + 1);
}

#[test]
fn queries_past_the_pattern_limit_are_refused_where_they_pass_it() {
    let most = vec![r#"message~"a.c""#; MAX_QUERY_PATTERNS].join(" ");
    assert!(parse(&most).is_ok());
    let error = parse(&format!("{most} path~x")).unwrap_err();
    assert!(
        error.message.contains("at most 16 are"),
        "{}",
        error.message
    );
    assert_eq!(error.column, most.len() + " path~".len() + 1);
}

#[test]
fn parses_the_architecture_example() {
    let q =
        filter_of(r#"service:api,web level>=warn "connection refused" -healthcheck user_id=42"#);
    assert_eq!(
        q,
        Expr::And(vec![
            field(Field::Service, &["api", "web"]),
            Expr::Filter(Filter::Level(LevelFilter::Compare(
                Comparison::GreaterOrEqual,
                Level::Warn
            ))),
            text("connection refused"),
            text("healthcheck").negate(),
            attribute("user_id", any_of(&["42"])),
        ])
    );
}

#[test]
fn boolean_logic_groups_and_precedence() {
    let q = filter_of(r#"(service:api OR service:web) -(level:debug "health check")"#);
    assert_eq!(
        q,
        Expr::And(vec![
            Expr::Or(vec![
                field(Field::Service, &["api"]),
                field(Field::Service, &["web"])
            ]),
            Expr::And(vec![
                Expr::Filter(Filter::Level(LevelFilter::AnyOf(vec![Level::Debug]))),
                text("health check"),
            ])
            .negate(),
        ])
    );
    // AND binds tighter than OR; AND may be written; NOT is a word of its own.
    assert_eq!(
        filter_of("a AND b OR NOT c"),
        Expr::Or(vec![
            Expr::And(vec![text("a"), text("b")]),
            text("c").negate()
        ])
    );
    assert_eq!(filter_of("(a)"), text("a"));
    assert_eq!(
        filter_of("or and not"),
        Expr::And(vec![text("or"), text("and"), text("not")])
    );
    assert_eq!(filter_of("NOTE"), text("NOTE"));
    assert_eq!(
        filter_of("smile :)"),
        Expr::And(vec![text("smile"), text(":)")])
    );
}

#[test]
fn typed_attribute_filters() {
    let compare = |op, n: &str| Test::Compare(op, Number(n.into()));
    assert_eq!(
        filter_of("status>=500"),
        attribute("status", compare(Comparison::GreaterOrEqual, "500"))
    );
    assert_eq!(
        filter_of("duration_ms>250.5"),
        attribute("duration_ms", compare(Comparison::Greater, "250.5"))
    );
    assert_eq!(
        filter_of("status!=200"),
        attribute("status", Test::NotEqual("200".into()))
    );
    assert_eq!(filter_of("user_id:*"), attribute("user_id", Test::Present));
    assert_eq!(
        filter_of("-user_id:*"),
        attribute("user_id", Test::Present).negate()
    );
    assert_eq!(
        filter_of("path:/api/*"),
        attribute("path", Test::Prefix("/api/".into()))
    );
    assert_eq!(
        filter_of(r#"path:"a*""#),
        attribute("path", any_of(&["a*"]))
    );
    assert_eq!(filter_of("k:a,b"), attribute("k", any_of(&["a", "b"])));
    assert_eq!(
        filter_of("attr.service=x"),
        attribute("service", any_of(&["x"]))
    );
    // A comparison with no number on its right is the word it was before.
    assert_eq!(filter_of("x>y"), text("x>y"));
    assert_eq!(filter_of("12:30"), text("12:30"));
}

#[test]
fn regular_expressions() {
    assert_eq!(
        filter_of(r#"~"time(d )?out""#),
        Expr::Filter(Filter::MessageRegex(Pattern("time(d )?out".into())))
    );
    assert_eq!(
        filter_of(r#"message~"x""#),
        Expr::Filter(Filter::MessageRegex(Pattern("x".into())))
    );
    assert_eq!(
        filter_of(r#"host~"^web-""#),
        Expr::Filter(Filter::Field {
            field: Field::Host,
            test: Test::Regex(Pattern("^web-".into()))
        })
    );
    assert_eq!(
        filter_of(r#"path~"^/api""#),
        attribute("path", Test::Regex(Pattern("^/api".into())))
    );
    let e = parse(r#"a ~"(unclosed""#).unwrap_err();
    assert_eq!(e.column, 4);
    assert!(e.message.contains("invalid regular expression"), "{e}");
    let matcher = Matcher::new(&filter_of(r#"~"TIME(d )?OUT""#));
    let record = |message: &str| crate::LogRecord {
        message: message.into(),
        ..sample()
    };
    assert!(matcher.matches(&record("request timed out")));
    assert!(!Matcher::new(&filter_of(r#"~"(?-i)TIMEOUT""#)).matches(&record("timeout")));
}

fn sample() -> crate::LogRecord {
    crate::LogRecord {
        id: "id-1".into(),
        timestamp: chrono::DateTime::UNIX_EPOCH,
        service: "api".into(),
        level: Level::Info,
        message: "hello".into(),
        host: None,
        trace_id: None,
        span_id: None,
        attributes: [("status".to_string(), "503".to_string())].into(),
    }
}

#[test]
fn numbers_compare_only_when_the_value_is_one() {
    let r = sample();
    let matches = |q: &str| parse(q).unwrap().matches(&r);
    assert!(matches("status>=500"));
    assert!(!matches("status<500"));
    assert!(matches("status!=200 -status=200 status:* status:50*"));
    assert!(!matches("missing!=1") && matches("-missing:*"));
    for text in ["0x1F", "1,5", " 42", "inf", "NaN", "1e", "+1", ""] {
        assert_eq!(number(text), None, "{text:?}");
    }
    assert_eq!(number("-2.5e3"), Some(-2500.0));
}

#[test]
fn stages_parse_in_order() {
    let q = parse(
        r#"service:api | extract "user=<user> took <ms>ms" | where ms>100 | stats count(), p95(ms) as slow by user, time(5m) | sort by slow desc | limit 5"#,
    )
    .unwrap();
    assert_eq!(q.stages.len(), 5);
    let Stage::Stats { aggregates, by } = &q.stages[2] else {
        panic!("stats")
    };
    assert_eq!(aggregates[1].function, Function::Percentile(95));
    assert_eq!(aggregates[1].column(), "slow");
    assert_eq!(
        by[1],
        GroupKey::Time(Step {
            text: "5m".into(),
            nanos: 300_000_000_000
        })
    );
    let Output::Table(columns) = q.output() else {
        panic!("a table")
    };
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["user", "time", "count", "slow"]);
    assert!(q.needs_finished_set());
    assert!(!parse("a | where b").unwrap().needs_finished_set());

    let e = parse("a | limit 5 | stats count()").unwrap_err();
    assert!(e.message.contains("cannot follow"), "{e}");
    assert_eq!(e.column, 15);
    let e = parse("| stats count() | sort by nope").unwrap_err();
    assert!(e.message.contains("columns are count"), "{e}");
    let e = parse("| nope").unwrap_err();
    assert!(e.message.contains("unknown stage"), "{e}");
    let e = parse("| stats p101(x)").unwrap_err();
    assert!(e.message.contains("not a stats function"), "{e}");
    let e = parse(r#"| extract "no placeholder""#).unwrap_err();
    assert!(e.message.contains("names nothing"), "{e}");
}

#[test]
fn extract_patterns_become_one_regex_per_name() {
    let pattern = ExtractPattern::new("user=<user> took <ms>ms").unwrap();
    assert_eq!(pattern.names(), ["user", "ms"]);
    assert_eq!(pattern.regex_for(0), r"(?s)user=(.*?) took (?:.*?)ms");
    assert_eq!(pattern.regex_for(1), r"(?s)user=(?:.*?) took (.*?)ms");
    let tail = ExtractPattern::new("<_> [<level>] <rest>").unwrap();
    assert_eq!(tail.regex_for(1), r"(?s)(?:.*?) \[(?:.*?)\] (.*)");
    assert!(ExtractPattern::new("<a><b>").is_err());
    assert!(ExtractPattern::new("<a").is_err());
}

#[test]
fn level_forms() {
    let any = |levels: Vec<Level>| Expr::Filter(Filter::Level(LevelFilter::AnyOf(levels)));
    assert_eq!(
        filter_of("level:ERROR,warning"),
        any(vec![Level::Error, Level::Warn])
    );
    assert_eq!(filter_of("level=err"), any(vec![Level::Error]));
    assert_eq!(
        filter_of("level<info"),
        Expr::Filter(Filter::Level(LevelFilter::Compare(
            Comparison::Less,
            Level::Info
        )))
    );
}

#[test]
fn field_aliases_quotes_and_escapes() {
    let Expr::And(q) = filter_of(r#"trace_id:"a b",c service=api "say \"hi\" C:\dir""#) else {
        panic!("an AND")
    };
    assert_eq!(q[0], field(Field::Trace, &["a b", "c"]));
    assert_eq!(q[1], field(Field::Service, &["api"]));
    assert_eq!(q[2], text(r#"say "hi" C:\dir"#));
}

#[test]
fn words_that_only_look_special_are_text() {
    assert_eq!(filter_of("error:"), text("error:"));
    assert_eq!(filter_of("a-b"), text("a-b"));
    assert_eq!(filter_of("- x"), Expr::And(vec![text("-"), text("x")]));
    assert_eq!(filter_of("a|b"), text("a|b"));
    assert!(parse("   ").unwrap().is_empty());
}

#[test]
fn errors_point_at_the_column() {
    let e = parse("level>=loud").unwrap_err();
    assert_eq!(e.column, 8);
    assert!(e.message.contains("unknown level \"loud\""), "{e}");

    let e = parse(r#"service:api "unclosed"#).unwrap_err();
    assert_eq!(e.column, 13);
    assert!(e.message.contains("unterminated quote"));
    assert_eq!(
        e.pointer(r#"service:api "unclosed"#),
        "service:api \"unclosed\n            ^"
    );

    let e = parse("x (a OR b").unwrap_err();
    assert_eq!(e.column, 3);
    assert!(e.message.contains("never closed"), "{e}");
    assert_eq!(parse("a OR").unwrap_err().column, 3);
    assert_eq!(filter_of("a)"), text("a)"));
    assert_eq!(parse("(a))").unwrap_err().column, 4);
    assert_eq!(parse("service>a").unwrap_err().column, 1);

    assert_eq!(parse("service:api,").unwrap_err().column, 13);
    assert_eq!(parse("service: api").unwrap_err().column, 9);
    assert_eq!(parse("k=").unwrap_err().column, 3);
    assert_eq!(parse(r#""a"b"#).unwrap_err().column, 4);
}

#[test]
fn printing_quotes_what_needs_it() {
    for q in [
        r#"-"a b" service="x,y" k="" level:warn,error level>info"#,
        r#"(a OR b) -(c d) "OR" attr.level=x path:/api/* k:* n>=2.5 ~"x y" host~"^w""#,
        r#"a | extract "took <ms>ms" | stats count(), avg(ms) as m by service, time(5m) | sort by m desc | limit 3"#,
        "| top 10 path",
        "| stats count() as n by path | sort by n desc, path",
    ] {
        assert_eq!(parse(q).unwrap().to_string(), q);
    }
}

fn level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

fn key() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_.-]{0,8}|attr\\.[a-z]{1,4}|level|message|service|time"
}

fn test() -> impl Strategy<Value = Test> {
    prop_oneof![
        prop::collection::vec(".{0,8}", 1..4).prop_map(Test::AnyOf),
        ".{0,8}".prop_map(Test::NotEqual),
        ".{0,6}".prop_map(Test::Prefix),
        Just(Test::Present),
        (
            prop::sample::select(Comparison::ALL.to_vec()),
            "-?[0-9]{1,4}(\\.[0-9]{1,2})?"
        )
            .prop_map(|(op, n)| Test::Compare(op, Number(n))),
        "[a-z.^$]{1,6}".prop_map(|p| Test::Regex(Pattern(p))),
    ]
}

fn field_test() -> impl Strategy<Value = Test> {
    prop_oneof![
        prop::collection::vec(".{1,8}", 1..4).prop_map(Test::AnyOf),
        ".{0,8}".prop_map(Test::NotEqual),
        "[a-z.^$]{1,6}".prop_map(|p| Test::Regex(Pattern(p))),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let field = prop::sample::select(Field::ALL.to_vec());
    let comparison = prop::sample::select(Comparison::ALL.to_vec());
    prop_oneof![
        ".{1,12}".prop_map(Filter::Text),
        "[a-z() |]{1,6}"
            .prop_map(|p| Filter::MessageRegex(Pattern(p)))
            .prop_filter(
                "valid",
                |f| matches!(f, Filter::MessageRegex(p) if regex::Regex::new(&p.0).is_ok())
            ),
        (field, field_test()).prop_map(|(field, test)| Filter::Field { field, test }),
        prop::collection::vec(level(), 1..4).prop_map(|l| Filter::Level(LevelFilter::AnyOf(l))),
        (comparison, level()).prop_map(|(c, l)| Filter::Level(LevelFilter::Compare(c, l))),
        (key(), test()).prop_map(|(key, test)| Filter::Attribute { key, test }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    filter()
        .prop_map(Expr::Filter)
        .prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
                inner.prop_map(Expr::negate),
            ]
        })
}

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        Just(Name::Time),
        Just(Name::Level),
        Just(Name::Message),
        prop::sample::select(Field::ALL.to_vec()).prop_map(Name::Field),
        key().prop_map(|k| Name::Attribute(k.strip_prefix("attr.").unwrap_or(&k).to_string())),
    ]
}

fn aggregate() -> impl Strategy<Value = Aggregate> {
    let function = prop::sample::select(vec![
        Function::Count,
        Function::CountDistinct,
        Function::Sum,
        Function::Avg,
        Function::Min,
        Function::Max,
        Function::Percentile(95),
    ]);
    (function, name(), prop::option::of("[a-z]{1,5}")).prop_map(|(function, arg, alias)| {
        Aggregate {
            function,
            arg: (function != Function::Count).then_some(arg),
            alias,
        }
    })
}

fn stages() -> impl Strategy<Value = Vec<Stage>> {
    let table = prop_oneof![
        (
            prop::collection::vec(aggregate(), 1..3),
            prop::collection::vec(name().prop_map(GroupKey::Name), 0..3)
        )
            .prop_map(|(aggregates, by)| Stage::Stats { aggregates, by }),
        (1..50usize, prop::collection::vec(name(), 1..3))
            .prop_map(|(limit, by)| Stage::Top { limit, by }),
        prop::collection::vec(name(), 1..3).prop_map(Stage::Fields),
    ];
    (
        prop::collection::vec(expr().prop_map(Stage::Where), 0..2),
        prop::option::of(table),
        prop::option::of(1..100usize),
    )
        .prop_map(|(mut stages, table, limit)| {
            stages.extend(table);
            stages.extend(limit.map(Stage::Limit));
            stages
        })
}

fn query() -> impl Strategy<Value = Query> {
    (prop_oneof![Just(Expr::all()), expr()], stages())
        .prop_map(|(filter, stages)| Query { filter, stages })
}

proptest! {
    #[test]
    fn printed_queries_parse_back_to_the_same_ast(q in query()) {
        let printed = q.to_string();
        prop_assert_eq!(parse(&printed), Ok(q), "printed as {}", printed);
    }

    #[test]
    fn arbitrary_input_never_panics(input in "\\PC{0,40}") {
        if let Err(e) = parse(&input) {
            prop_assert!(e.column >= 1 && e.column <= input.chars().count() + 1);
        }
    }

    #[test]
    fn arbitrary_query_characters_never_panic(input in "[-a-z:=<>!~()|*\",. \\\\]{0,30}") {
        let _ = parse(&input);
    }
}

#[test]
fn tables_order_times_to_the_nanosecond() {
    use super::eval::{Cell, compare_cells};
    let (a, b) = (
        Cell::Time(1_714_564_800_000_000_000),
        Cell::Time(1_714_564_800_000_000_001),
    );
    assert_eq!(compare_cells(&a, &b, false), std::cmp::Ordering::Less);
    assert_eq!(compare_cells(&a, &b, true), std::cmp::Ordering::Greater);
    let (seven, padded) = (Cell::Text("7".into()), Cell::Text("007".into()));
    assert_eq!(
        compare_cells(&padded, &seven, false),
        std::cmp::Ordering::Less
    );
    assert_eq!(
        compare_cells(&Cell::Null, &seven, true),
        std::cmp::Ordering::Greater
    );
}
