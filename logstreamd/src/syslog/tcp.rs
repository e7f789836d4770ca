//! Syslog over TCP: a task per connection reads frames into a batch and
//! submits it once full or [`BATCH_WAIT`] old. While a batch waits for the
//! sink the connection is not read, so a sender outpacing the store is
//! slowed down by TCP itself and nothing is dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::framing::{Framer, MAX_FRAME};
use super::{BATCH_WAIT, Batch, Intake, WhenFull, stopped};

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 1024;
/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Accepts connections until the first stop signal, then waits for every
/// connection to submit what it has read.
pub(super) async fn accept(
    listener: TcpListener,
    intake: Arc<Intake>,
    mut stop: watch::Receiver<u32>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, Arc::clone(&intake), stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, for example: try again soon.
                    tracing::warn!(error = %e, "syslog: cannot accept a TCP connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Reads one connection to its end (or the first stop signal), submitting
/// its records in batches.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    intake: Arc<Intake>,
    mut stop: watch::Receiver<u32>,
) {
    tracing::debug!(%peer, "syslog: TCP connection");
    let mut framer = Framer::new(MAX_FRAME);
    let mut chunk = vec![0; READ_CHUNK];
    let mut frames = Vec::new();
    let mut batch = Batch::default();
    let mut deadline = Instant::now();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            () = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
                intake.submit(batch.take(), WhenFull::Block).await;
            }
            read = stream.read(&mut chunk) => match read {
                Ok(0) => break,
                Ok(n) => framer.push(&chunk[..n], &mut frames),
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "syslog: TCP connection failed");
                    break;
                }
            },
        }
        let now = chrono::Utc::now();
        for frame in frames.drain(..) {
            if batch.is_empty() {
                deadline = Instant::now() + BATCH_WAIT;
            }
            batch.push(intake.record(&frame, peer.ip(), now));
            intake.metrics.syslog_received_records.inc();
            if batch.is_full(&intake) {
                // Not reading while this waits is the backpressure.
                intake.submit(batch.take(), WhenFull::Block).await;
            }
        }
    }
    // What was read is stored, a last frame without its end included.
    if let Some(frame) = framer.finish() {
        batch.push(intake.record(&frame, peer.ip(), chrono::Utc::now()));
        intake.metrics.syslog_received_records.inc();
    }
    if !batch.is_empty() {
        intake.submit(batch.take(), WhenFull::Block).await;
    }
}
