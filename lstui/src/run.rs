//! The program: settings, the terminal, the background tail task, and the
//! event loop that feeds `update` and calls `draw`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::app::filter::{bar_query, filter_query};
use anyhow::Context;
use crossterm::event::EventStream;
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::app::state::{LineInput, Mode};
use crate::app::{Action, Effect, Options, State, apply, keys};
use crate::cli::Cli;
use crate::effects::Daemon;
use crate::net::{self, TailRequest};
use crate::terminal::{Screen, Tui};
use crate::{FRAME, ui};
use logstream_client::{Client, Settings};

/// Sent with every request, so that the daemon's log names the client.
const USER_AGENT: &str = concat!("lstui/", env!("CARGO_PKG_VERSION"));

/// Batches of records waiting for the UI; beyond that the tail task waits.
const CHANNEL: usize = 64;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Mistakes in the flags are reported before the screen is taken over.
    let tail_query = cli.tail_query();
    if let Some(text) = &tail_query {
        filter_query(text).map_err(|e| anyhow::anyhow!("{e}\n{}", e.pointer(text)))?;
    }
    if let Some(text) = &cli.filter {
        bar_query(text).map_err(|e| anyhow::anyhow!("--filter: {e}\n{}", e.pointer(text)))?;
    }
    // A relative --since is fixed now, so a reconnection does not move it.
    let since = cli
        .since
        .as_deref()
        .map(|text| {
            logstream_shared::time::parse_time_bound(text, chrono::Utc::now())
                .map(|at| at.to_rfc3339())
                .map_err(|e| anyhow::anyhow!("--since: {e}"))
        })
        .transpose()?;
    let settings = Settings::resolve(cli.server.clone(), cli.token.clone(), "--token")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = Client::new(&settings.server, settings.token.as_ref(), USER_AGENT)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = Options {
        capacity: usize::try_from(cli.buffer).unwrap_or(usize::MAX),
        utc: cli.utc,
        wrap: cli.wrap,
        server: settings.server.clone(),
        tail_query: tail_query.clone(),
        range: cli.history_range()?,
    };
    let open_in_history = cli.from.is_some() || cli.to.is_some();
    let daemon = Daemon {
        client: client.clone(),
    };
    let request = TailRequest {
        client,
        query: tail_query,
        since,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let mut screen = Screen::enter().context("setting up the terminal")?;
        let size = screen
            .terminal
            .size()
            .context("reading the terminal size")?;
        let mut state = State::new(options, (size.width, size.height));
        if let Some(text) = cli.filter {
            state.mode = Mode::Filter(LineInput::new(&text));
            apply(&mut state, Action::Submit);
        }
        if open_in_history {
            apply(&mut state, Action::ToggleHistory);
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        let cancel = CancellationToken::new();
        let tail = tokio::spawn(net::tail(request, tx.clone(), cancel.clone()));
        let result = event_loop(&mut screen.terminal, &mut state, (tx, rx), &daemon).await;
        cancel.cancel();
        let _ = tail.await;
        drop(screen);
        result
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("lstui: {e:#}");
            Ok(ExitCode::from(3))
        }
    }
}

/// Until the user quits: keys first, then the frame tick, then network
/// actions, so that neither input nor drawing waits behind a flood of records.
async fn event_loop(
    terminal: &mut Tui,
    state: &mut State,
    (tx, mut actions): (mpsc::Sender<Action>, mpsc::Receiver<Action>),
    daemon: &Daemon,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let started = Instant::now();
    let mut dirty = true;
    while !state.quit {
        tokio::select! {
            biased;
            event = events.next() => match event {
                Some(Ok(event)) => {
                    if let Some(action) = keys::action_for(state, &event) {
                        apply(state, action);
                        dirty = true;
                    }
                }
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => break,
            },
            _ = terminate.recv() => break,
            _ = hangup.recv() => break,
            _ = tick.tick() => {
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                // The histogram moves once a second even when nothing else does.
                dirty |= ms / 1000 != state.clock_ms / 1000;
                apply(state, Action::Clock(ms));
                if dirty {
                    terminal.draw(|frame| ui::draw(state, frame))?;
                    dirty = false;
                }
            }
            Some(action) = actions.recv() => {
                apply(state, action);
                dirty = true;
            }
        }
        if let Some(text) = run_effects(terminal, state, daemon, &tx) {
            // The pager has the terminal meanwhile; a new reader of its
            // events starts after, and the screen is drawn anew.
            drop(events);
            if let Err(e) = crate::terminal::page(terminal, &text) {
                state.notice = Some(format!("$PAGER: {e}"));
            }
            events = EventStream::new();
            dirty = true;
        }
    }
    Ok(())
}

/// Starts the work `update` asked for: questions for the daemon and saves
/// in tasks that answer on `tx`, the clipboard at once; returns the text to
/// show in the pager, which the loop runs itself.
fn run_effects(
    terminal: &mut Tui,
    state: &mut State,
    daemon: &Daemon,
    tx: &mpsc::Sender<Action>,
) -> Option<String> {
    let mut pager = None;
    for effect in std::mem::take(&mut state.effects) {
        let (daemon, tx) = (daemon.clone(), tx.clone());
        match effect {
            Effect::Ask(ask) => {
                tokio::spawn(async move {
                    let answer = daemon.run(ask).await;
                    // The loop has ended when nobody receives.
                    let _ = tx.send(answer).await;
                });
            }
            Effect::Save(request) => {
                tokio::spawn(daemon.save(request, tx));
            }
            Effect::Copy(text) => {
                if let Err(e) = crate::terminal::copy(terminal, &text) {
                    state.notice = Some(format!("copy: {e}"));
                }
            }
            Effect::Pager(text) => pager = Some(text),
        }
    }
    pager
}
