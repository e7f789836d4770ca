//! The LogStream daemon: HTTP API → ingest pipeline → store.

pub mod api;
pub mod config;
#[cfg(test)]
mod fuzzing;
pub mod ingest;
pub mod metrics;
pub mod proto;
pub mod serve;
pub mod store;
pub mod syslog;
pub mod tail;

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::api::auth::Tokens;
use crate::api::{AppParts, AppState, HttpLimits, WorkerState};
pub use crate::config::{Config, Role};
use crate::ingest::health::WorkerHealth;
use crate::ingest::kafka::KafkaSinkConfig;
use crate::ingest::worker::{self, WorkerConfig};
use crate::ingest::{DirectSink, DirectSinkConfig, KafkaSink, Sink};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tail::kafka::{KafkaTail, TailGauges, TailLimits};

/// Runs the daemon until SIGINT or SIGTERM, then drains: the listeners stop,
/// idle connections close, requests and syslog batches in flight are
/// committed (and requests answered), and the store is closed.
pub async fn run(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).context("bad --log filter")?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    // A body that could never fit would be told to retry forever.
    let largest_body_memory = config
        .max_body_bytes
        .saturating_mul(api::MEMORY_PER_BODY_BYTE);
    anyhow::ensure!(
        config.max_ingest_memory >= largest_body_memory,
        "--max-ingest-memory ({}) must be at least {} times --max-body-bytes ({}), so that the largest body fits",
        config.max_ingest_memory,
        api::MEMORY_PER_BODY_BYTE,
        config.max_body_bytes
    );
    anyhow::ensure!(
        config.max_pending_records > 0,
        "--max-pending-records must be at least 1"
    );
    anyhow::ensure!(
        config.max_ingest_memory <= tokio::sync::Semaphore::MAX_PERMITS,
        "--max-ingest-memory must be at most {}",
        tokio::sync::Semaphore::MAX_PERMITS
    );

    anyhow::ensure!(
        config.role == Role::All || config.store_url().starts_with("clickhouse://"),
        "--role {:?} runs beside other processes that share the store: give them \
         --store clickhouse://… (the embedded DuckDB file belongs to one process; use --role all)",
        config.role
    );
    anyhow::ensure!(
        config.role == Role::All || config.queue.is_some(),
        "--role {:?} needs a queue between the API and the workers: add --queue kafka://HOST:PORT/TOPIC \
         (or use --role all for the embedded pipeline)",
        config.role
    );
    let syslog_addresses = config.syslog_addresses();
    anyhow::ensure!(
        config.role != Role::Worker || syslog_addresses.is_empty(),
        "--role worker has no ingest pipeline to receive syslog into: give \
         --syslog-listen, --syslog-tcp and --syslog-udp to the --role api (or all) process"
    );
    // Before the store is opened: a bad tokens file is a mistake to fix first.
    let tokens = Tokens::load(config.tokens_file.as_deref(), config.tokens.as_ref())?;
    let mut signals = count_stop_signals().context("installing signal handlers")?;

    let store_url = config.store_url();
    let store = store::open_with(&store_url, &config.store_options())
        .await
        .with_context(|| format!("cannot open the store {store_url}"))?;
    let metrics = Arc::new(Metrics::of_store(store.as_ref()));
    if store_url.starts_with("duckdb://") {
        metrics
            .memory_limit
            .set(i64::try_from(config.memory_limit).unwrap_or(i64::MAX));
    }
    let (sink, readable) = match config.role {
        Role::Worker => (None, Arc::clone(&store)),
        Role::Api | Role::All => {
            let (sink, readable) = start_sink(&config, &store, &metrics).await?;
            (Some(sink), readable)
        }
    };
    let worker_health = WorkerHealth::default();
    let worker = match (&config.queue, config.role) {
        (Some(target), Role::Worker | Role::All) => {
            let worker_config = WorkerConfig {
                target: target.clone(),
                options: config.kafka_options.clone(),
                group: config.kafka_group.clone(),
                dead_letter_topic: config.dead_letter_topic(target),
                partitions: config.kafka_partitions,
                batch_records: config.batch_records,
                batch_bytes: config.batch_bytes,
                batch_wait: config.batch_wait,
            };
            Some(tokio::spawn(worker::supervise(
                Arc::clone(&store),
                worker_config,
                Arc::clone(&metrics),
                signals.clone(),
                worker_health.clone(),
            )))
        }
        _ => None,
    };
    if let Some(days) = config.retention {
        tokio::spawn(keep_days(Arc::clone(&store), days));
    }

    let router = match &sink {
        Some(sink) => api::router(AppState::new(AppParts {
            store: Arc::clone(&readable),
            sink: Arc::clone(sink),
            limits: HttpLimits {
                max_body_bytes: config.max_body_bytes,
                request_timeout: config.request_timeout,
            },
            ingest_memory: Arc::new(tokio::sync::Semaphore::new(config.max_ingest_memory)),
            metrics: Arc::clone(&metrics),
            tokens: tokens.clone(),
            tail: match &config.queue {
                Some(target) => Some(Arc::new(KafkaTail::new(
                    target.clone(),
                    config.kafka_options.clone(),
                    TailLimits {
                        subscribers: config.max_tail_subscribers as usize,
                        consumers: config.max_tail_consumers as usize,
                    },
                    TailGauges {
                        subscribers: metrics.tail_subscribers.clone(),
                        consumers: metrics.tail_consumers.clone(),
                    },
                ))),
                None => store.tail(),
            },
            stop: signals.clone(),
            worker: worker.is_some().then(|| worker_health.clone()),
            detect_layouts: config.detects_layouts(),
            order: Arc::default(),
        })),
        None => api::worker_router(WorkerState {
            store: Arc::clone(&store),
            metrics: Arc::clone(&metrics),
            tokens: tokens.clone(),
            worker: worker_health.clone(),
        }),
    };
    // Before the HTTP "listening on" line, so that syslog is ready once it shows.
    let syslog = match &sink {
        Some(sink) if !syslog_addresses.is_empty() => Some(
            syslog::Listeners::start(
                &syslog_addresses,
                Arc::clone(sink),
                Arc::clone(&metrics),
                config.max_pending_records,
                config.detects_layouts(),
                signals.clone(),
            )
            .await?,
        ),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    if !tokens.is_empty() {
        tracing::info!("access control: tokens required ({})", tokens.summary());
    } else if !addr.ip().is_loopback() {
        // Not "listening on": tools wait for that line to learn the address.
        tracing::warn!(
            "NO ACCESS CONTROL: the API on {addr} has no access tokens, so anyone who can \
             reach this port can read and write logs. Configure tokens with --tokens-file or \
             LOGSTREAM_TOKENS (entries SCOPE:TOKEN, scopes ingest, read, admin; see --help)"
        );
    }
    tracing::info!(store = %store.describe(), role = ?config.role, "listening on http://{addr}");

    let serving = serve::serve(
        listener,
        router,
        serve::ConnectionLimits {
            header_timeout: config.header_timeout,
            max_connections: config.max_connections,
        },
        signals.clone(),
    );
    // After a stop signal, requests in flight get long enough to be
    // answered; one that still does not end (a tail client that stopped
    // reading) must not keep the pipeline from draining.
    let grace =
        config.request_timeout.max(config.kafka_timeout) + std::time::Duration::from_secs(5);
    let mut stopping = signals.clone();
    tokio::select! {
        () = serving => {}
        () = async move {
            let _ = stopping.wait_for(|n| *n >= 1).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "connections still open after the grace period; closing them");
        }
    }

    // Requests in flight have been answered; finish and close the pipeline.
    // A second signal cuts this short.
    tracing::info!("draining the ingest pipeline");
    let drained = async {
        // The syslog listeners stopped at the first signal; their last
        // batches go into the sink before it closes.
        if let Some(syslog) = syslog {
            syslog.finish().await;
        }
        if let Some(sink) = &sink {
            sink.shutdown().await;
        }
        if let Some(worker) = worker
            && let Err(e) = worker.await
        {
            tracing::error!(error = %e, "worker panicked");
        }
        store.close().await
    };
    tokio::select! {
        closed = drained => closed.context("closing the store")?,
        _ = signals.wait_for(|n| *n >= 2) => anyhow::bail!("second signal: stopped without draining"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// The ingest pipeline: produce to Kafka with `--queue`, else commit to the
/// store; and the store as the API reads it (see [`DirectSink::readable`]).
async fn start_sink(
    config: &Config,
    store: &Arc<dyn Store>,
    metrics: &Metrics,
) -> anyhow::Result<(Arc<dyn Sink>, Arc<dyn Store>)> {
    Ok(match &config.queue {
        Some(target) => {
            let sink = KafkaSink::start(KafkaSinkConfig {
                target: target.clone(),
                options: config.kafka_options.clone(),
                partitions: config.kafka_partitions,
                delivery_timeout: config.kafka_timeout,
                max_pending_records: config.max_pending_records,
            })
            .await
            .map_err(anyhow::Error::msg)
            .context("cannot start the Kafka queue")?;
            (Arc::new(sink), Arc::clone(store))
        }
        None => {
            let config = DirectSinkConfig {
                max_pending_records: config.max_pending_records,
                unstored: metrics.journal_unstored_records.clone(),
                ..DirectSinkConfig::default()
            };
            let sink = DirectSink::start(Arc::clone(store), config).await?;
            let readable = sink.readable(Arc::clone(store));
            (Arc::new(sink), readable)
        }
    })
}

/// Retention: every hour, drops the whole UTC days that ended more than
/// `days` days ago.
async fn keep_days(store: Arc<dyn Store>, days: u32) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        let first_kept = (chrono::Utc::now() - chrono::Days::new(days.into())).date_naive();
        if let Err(e) = store.drop_days_before(first_kept).await {
            tracing::error!(error = %e, "retention: could not drop old days");
        }
    }
}

/// How many SIGINTs and SIGTERMs have arrived. Installed before the daemon
/// says it is listening, so that a signal sent right after that line is
/// never met by the default action (instant death, nothing drained).
fn count_stop_signals() -> std::io::Result<tokio::sync::watch::Receiver<u32>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (tx, rx) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}
