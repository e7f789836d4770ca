//! Syslog over UDP: one message per datagram. One task receives, so the
//! kernel's receive buffer keeps being emptied, and hands records through a
//! bounded queue to a task that batches and submits them. UDP has no way to
//! slow a sender down, so records the queue has no room for, and batches the
//! sink still cannot take after a short retry, are dropped and counted
//! (`logstream_syslog_udp_dropped_records_total`), never silently.

use std::sync::Arc;

use logstream_shared::LogRecord;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::framing::{Frame, MAX_FRAME};
use super::{BATCH_WAIT, Batch, Intake, WhenFull, stopped};

/// Records received but not yet submitted, at most: two full batches, so
/// that one can be received while the other is submitted.
const QUEUE_RECORDS: usize = 2 * super::BATCH_RECORDS;

/// Receives datagrams until the first stop signal, then waits for what was
/// received to be submitted.
pub(super) async fn receive(
    socket: UdpSocket,
    intake: Arc<Intake>,
    mut stop: watch::Receiver<u32>,
) {
    let (queue, queued) = mpsc::channel(QUEUE_RECORDS);
    let submitting = tokio::spawn(submit(queued, Arc::clone(&intake)));
    // A datagram longer than the buffer would be cut by the kernel; one
    // byte more than a frame keeps tells that it was.
    let mut buffer = vec![0; MAX_FRAME + 1];
    loop {
        let (len, peer) = tokio::select! {
            () = stopped(&mut stop) => break,
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(e) => {
                    // An ICMP error from an earlier send, for example.
                    tracing::debug!(error = %e, "syslog: UDP receive failed");
                    continue;
                }
            },
        };
        let Some(frame) = Frame::datagram(&buffer[..len]) else {
            continue;
        };
        intake.metrics.syslog_received_records.inc();
        if queue
            .try_send(intake.record(&frame, peer.ip(), chrono::Utc::now()))
            .is_err()
        {
            intake.metrics.syslog_udp_dropped_records.inc();
        }
    }
    drop(queue);
    if let Err(e) = submitting.await {
        tracing::error!(error = %e, "syslog: the UDP submitter panicked");
    }
}

/// Batches the queued records and submits them, until the queue closes.
async fn submit(mut queued: mpsc::Receiver<LogRecord>, intake: Arc<Intake>) {
    let mut batch = Batch::default();
    let mut deadline = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline), if !batch.is_empty() => {}
            next = queued.recv() => match next {
                Some(record) => {
                    if batch.is_empty() {
                        deadline = Instant::now() + BATCH_WAIT;
                    }
                    batch.push(record);
                    if !batch.is_full(&intake) {
                        continue;
                    }
                }
                None => break,
            },
        }
        intake
            .submit(batch.take(), WhenFull::DropAfterRetries)
            .await;
    }
    if !batch.is_empty() {
        intake
            .submit(batch.take(), WhenFull::DropAfterRetries)
            .await;
    }
}
