//! lstui's frame budget under load: a generated stream of 50,000 records a
//! second goes through the same `update` and `draw` as the program, drawn on
//! ratatui's `TestBackend`, one frame per render tick (33 ms of records).
//!
//! ```sh
//! cargo run -p lstui --release --example bench
//! cargo run -p lstui --release --example bench -- --rate 100000 --seconds 20
//! ```
//!
//! Each figure is printed beside a baseline measured in the same run: the
//! frame time of drawing an empty state, and the memory before any record.
//! History mode pages through 1,000,000 stored records: its pages are served
//! in process and applied in the frame of the key that asked for them (the
//! worst case: in the program a fetch runs in a task, so its wait never
//! falls in a frame; only applying its answer does).
//! The network task's JSON parsing runs on another thread in the program and
//! is measured on its own line.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use clap::Parser;
use logstream_shared::{Level, LogRecord};
use lstui::app::state::{LineInput, Mode};
use lstui::app::{Action, Edit, NetEvent, Options, State, apply};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

#[derive(Debug, Parser)]
struct Args {
    /// Records per second in the generated stream.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// Seconds of stream per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Ring buffer size, as `lstui --buffer`.
    #[arg(long, default_value_t = 100_000)]
    buffer: usize,
    /// Terminal size.
    #[arg(long, default_value_t = 200)]
    columns: u16,
    #[arg(long, default_value_t = 50)]
    rows: u16,
}

const SERVICES: [&str; 10] = [
    "api",
    "web",
    "auth",
    "billing",
    "search",
    "checkout",
    "mailer",
    "db-proxy",
    "cache",
    "scheduler",
];
/// The records in one `NetEvent::Records`, at most (as `net` batches them).
const BATCH: usize = 2_000;

fn main() {
    let args = Args::parse();
    let frame = lstui::FRAME;
    let per_frame = (args.rate as f64 * frame.as_secs_f64()).round() as usize;
    let frames = (args.seconds as f64 / frame.as_secs_f64()).round() as usize;
    let mut generator = Generator::new();
    println!(
        "lstui frame benchmark: {} records/s, {} records per {} ms frame, {} frames per scenario, \
         buffer {}, {}x{} TestBackend, {} cores",
        args.rate,
        per_frame,
        frame.as_millis(),
        frames,
        args.buffer,
        args.columns,
        args.rows,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let rss_start = rss_kib();

    let options = Options {
        capacity: args.buffer,
        utc: true,
        ..Options::default()
    };
    let size = (args.columns, args.rows);
    let mut terminal = Terminal::new(TestBackend::new(args.columns, args.rows)).unwrap();

    // Baseline: the same frames with nothing arriving and nothing held.
    let empty = State::new(options.clone(), size);
    let baseline = measure(frames, |_| {
        draw(&mut terminal, &empty);
    });

    let mut state = State::new(options.clone(), size);
    apply(&mut state, Action::Net(NetEvent::Connected));
    let mut feed = |state: &mut State, frame: usize| {
        apply(state, Action::Clock((frame as u64) * 33));
        let mut left = per_frame;
        while left > 0 {
            let n = left.min(BATCH);
            apply(state, Action::Net(NetEvent::Records(generator.records(n))));
            left -= n;
        }
    };

    let follow = measure(frames, |i| {
        feed(&mut state, i);
        draw(&mut terminal, &state);
    });
    let rss_full = rss_kib();

    // Filter bar (with a text clause, the costly kind) + search highlight +
    // paused, all at once.
    // Applying a filter rebuilds the view from the whole buffer: the median
    // of 5, alternating with the empty filter.
    let mut refilters = Vec::new();
    for text in ["", "level>=info -service:cache -healthcheck"].repeat(5) {
        state.mode = Mode::Filter(LineInput::new(text));
        let started = Instant::now();
        apply(&mut state, Action::Submit);
        if !text.is_empty() {
            refilters.push(started.elapsed());
        }
    }
    let refilter = Times(refilters).percentile(50.0);
    apply(&mut state, Action::StartSearch);
    for c in "timeout".chars() {
        apply(&mut state, Action::Edit(Edit::Insert(c)));
    }
    let started = Instant::now();
    apply(&mut state, Action::Submit);
    let search = started.elapsed();
    let started = Instant::now();
    apply(&mut state, Action::SearchPrev);
    let search_prev = started.elapsed();
    let offset = frames;
    let filtered = measure(frames, |i| {
        feed(&mut state, offset + i);
        draw(&mut terminal, &state);
    });

    // Following again, wrapping long lines, with the detail pane open.
    apply(&mut state, Action::Follow);
    apply(&mut state, Action::ToggleWrap);
    apply(&mut state, Action::ToggleDetail);
    let offset = 2 * frames;
    let wrapped = measure(frames, |i| {
        feed(&mut state, offset + i);
        draw(&mut terminal, &state);
    });

    let (history_keys, history_window) = history_paging(&options, size, &mut terminal, frames);

    // What the network task spends parsing, per frame's worth of records.
    let lines: Vec<String> = generator
        .records(per_frame)
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let parse = measure(100, |_| {
        for line in &lines {
            std::hint::black_box(serde_json::from_str::<LogRecord>(line).unwrap());
        }
    });
    let rss_end = rss_kib();

    println!();
    println!(
        "{:<58} {:>9} {:>9} {:>9} {:>12}",
        "work per frame", "p50", "p99", "max", "p99 vs base"
    );
    let base_p99 = baseline.percentile(99.0);
    for (name, times) in [
        ("baseline: draw an empty state", &baseline),
        ("follow: update + draw", &follow),
        (
            "paused, filter and search highlight: update + draw",
            &filtered,
        ),
        (
            "following, wrapped lines, detail pane: update + draw",
            &wrapped,
        ),
        (
            "history: PgDn through 1M stored records, pages applied",
            &history_keys,
        ),
        ("(other thread) JSON parsing of one frame's records", &parse),
    ] {
        println!(
            "{:<58} {:>9} {:>9} {:>9} {:>11.1}x",
            name,
            ms(times.percentile(50.0)),
            ms(times.percentile(99.0)),
            ms(times.max()),
            times.percentile(99.0).as_secs_f64() / base_p99.as_secs_f64(),
        );
    }
    println!();
    println!(
        "one-off actions over a full buffer ({} records)",
        state.live.ring.len()
    );
    println!(
        "  apply a new filter (rebuild the view), p50  {:>9}",
        ms(refilter)
    );
    println!(
        "  submit a search (newest match)              {:>9}",
        ms(search)
    );
    println!(
        "  previous match                               {:>9}",
        ms(search_prev)
    );
    println!(
        "  history window held after paging (records)   {:>9}",
        history_window
    );
    println!();
    println!("memory (VmRSS)                                   MiB   vs baseline");
    println!(
        "  baseline: before any record                 {:>7.1}",
        rss_start as f64 / 1024.0
    );
    for (name, kib) in [
        ("after filling the buffer", rss_full),
        ("at the end", rss_end),
    ] {
        println!(
            "  {:<43} {:>7.1}   +{:.1} MiB ({:.0} bytes per buffered record)",
            name,
            kib as f64 / 1024.0,
            (kib.saturating_sub(rss_start)) as f64 / 1024.0,
            (kib.saturating_sub(rss_start) * 1024) as f64 / args.buffer as f64,
        );
    }
    println!(
        "  peak (VmHWM)                                {:>7.1}",
        status_kib("VmHWM:") as f64 / 1024.0
    );
}

/// Records in the store history pages through.
const STORED: u64 = 1_000_000;

/// History at the oldest of `STORED` records, then a page key per frame for
/// `frames` frames; each page the keys ask for is answered at once. The
/// frame times, and the records held at the end.
fn history_paging(
    options: &Options,
    size: (u16, u16),
    terminal: &mut Terminal<TestBackend>,
    frames: usize,
) -> (Times, usize) {
    let mut state = State::new(options.clone(), size);
    apply(&mut state, Action::ToggleHistory);
    serve_pages(&mut state);
    apply(&mut state, Action::Oldest);
    serve_pages(&mut state);
    let times = measure(frames, |_| {
        apply(&mut state, Action::PageDown);
        serve_pages(&mut state);
        draw(terminal, &state);
    });
    (times, state.list().ring.len())
}

/// Answers the pages `update` asked for from the generated store; other
/// requests (timeline, facets) are left unanswered, as if still on the way.
fn serve_pages(state: &mut State) {
    use lstui::app::Effect;
    use lstui::app::effect::Ask;
    use lstui::app::history::PageAnswer;
    for effect in std::mem::take(&mut state.effects) {
        if let Effect::Ask(Ask::Page(request)) = effect {
            let (records, more) = stored_page(&request.params);
            let answer = PageAnswer {
                generation: request.generation,
                fetch: request.fetch,
                result: Ok((records, more)),
            };
            apply(state, Action::Page(answer));
        }
    }
}

/// A page of the store as the daemon answers it: past the cursor's record,
/// oldest first forward, newest first backward.
fn stored_page(params: &logstream_shared::api::SearchParams) -> (Vec<LogRecord>, bool) {
    use logstream_shared::api::Direction;
    let limit = params.limit.unwrap_or(500) as u64;
    let at = params
        .cursor
        .as_deref()
        .and_then(logstream_shared::Cursor::decode)
        .and_then(|cursor| cursor.id.rsplit('-').next()?.parse::<u64>().ok());
    let indexes: Vec<u64> = match (params.direction, at) {
        (Some(Direction::Backward), Some(at)) => (at.saturating_sub(limit)..at).rev().collect(),
        (Some(Direction::Backward), None) => (STORED - limit..STORED).rev().collect(),
        (_, at) => {
            let from = at.map_or(0, |at| at + 1);
            (from..(from + limit).min(STORED)).collect()
        }
    };
    let more = indexes.len() as u64 == limit;
    (indexes.into_iter().map(stored_record).collect(), more)
}

/// The store's record number `n`, one every 600 ms over a week.
fn stored_record(n: u64) -> LogRecord {
    LogRecord {
        id: format!("0190b000-0000-7000-8000-{n:012}"),
        timestamp: Utc.timestamp_nanos(1_790_000_000_000_000_000 + n as i64 * 600_000_000),
        service: SERVICES[(n % 10) as usize].into(),
        level: if n.is_multiple_of(97) {
            Level::Error
        } else {
            Level::Info
        },
        message: format!("stored request {n} served in {} ms", n % 900),
        host: Some(format!("node-{}", n % 16)),
        trace_id: None,
        span_id: None,
        attributes: [("user_id".to_string(), (n % 100_000).to_string())].into(),
    }
}

fn draw(terminal: &mut Terminal<TestBackend>, state: &State) {
    terminal
        .draw(|frame| lstui::ui::draw(state, frame))
        .unwrap();
}

struct Times(Vec<Duration>);

impl Times {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        let index = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[index]
    }

    fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }
}

fn measure(frames: usize, mut work: impl FnMut(usize)) -> Times {
    Times(
        (0..frames)
            .map(|i| {
                let started = Instant::now();
                work(i);
                started.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// A `kB` line of /proc/self/status.
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(key))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Records like a busy cluster's: mostly INFO, a few long ones, attributes.
struct Generator {
    rng: StdRng,
    n: u64,
}

impl Generator {
    fn new() -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(42),
            n: 0,
        }
    }

    fn records(&mut self, count: usize) -> Vec<LogRecord> {
        (0..count).map(|_| self.record()).collect()
    }

    fn record(&mut self) -> LogRecord {
        self.n += 1;
        let roll: u32 = self.rng.random_range(0..1000);
        let level = match roll {
            0..50 => Level::Debug,
            50..750 => Level::Info,
            750..900 => Level::Warn,
            900..995 => Level::Error,
            995..998 => Level::Fatal,
            _ => Level::Trace,
        };
        let service = SERVICES[self.rng.random_range(0..SERVICES.len())];
        let user: u32 = self.rng.random_range(0..100_000);
        let message = match self.rng.random_range(0..100) {
            0..3 => format!("upstream timeout after 30s calling {service}-backend for user {user}"),
            3..5 => format!(
                "unhandled exception in request handler\n{}",
                "    at com.example.Handler.handle(Handler.java:42)\n".repeat(8)
            ),
            5..15 => format!(
                "GET /api/v1/users/{user}/orders?page=2 200 {} ms",
                user % 900
            ),
            _ => format!("request {} served for user {user}", self.n),
        };
        LogRecord {
            id: format!("0190a000-0000-7000-8000-{:012}", self.n),
            timestamp: Utc.timestamp_nanos(1_790_000_000_000_000_000 + self.n as i64 * 20_000),
            service: service.into(),
            level,
            message,
            host: Some(format!("node-{}", user % 16)),
            trace_id: None,
            span_id: None,
            attributes: [
                ("user_id".to_string(), user.to_string()),
                ("region".to_string(), "eu-west-1".to_string()),
            ]
            .into(),
        }
    }
}
