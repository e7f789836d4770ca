//! Whether a worker is moving records: what `/api/health` reports for the
//! roles that run one, so that a supervisor (Compose, Kubernetes) sees a
//! worker that cannot consume instead of a process that merely runs.

use std::sync::Arc;

use tokio::sync::watch;

/// What the worker is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerStatus {
    /// Creating its topics and joining the consumer group.
    Starting,
    Consuming,
    /// Running, but no broker has been reachable (librdkafka keeps trying).
    Unreachable(String),
    /// Failed; started again after a backoff.
    Restarting(String),
}

/// The worker's status, shared by the worker and the health endpoint.
#[derive(Debug, Clone)]
pub struct WorkerHealth(Arc<watch::Sender<WorkerStatus>>);

impl Default for WorkerHealth {
    fn default() -> WorkerHealth {
        WorkerHealth(Arc::new(watch::Sender::new(WorkerStatus::Starting)))
    }
}

impl WorkerHealth {
    pub fn set(&self, status: WorkerStatus) {
        self.0.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }

    /// Moves between consuming and unreachable as the brokers come and go;
    /// a worker that is starting or restarting stays so.
    pub fn brokers_reachable(&self, reachable: bool, brokers: &str) {
        self.0.send_if_modified(|current| {
            let next = match (&*current, reachable) {
                (WorkerStatus::Unreachable(_), true) => WorkerStatus::Consuming,
                (WorkerStatus::Consuming, false) => {
                    WorkerStatus::Unreachable(format!("no Kafka broker of {brokers} is reachable"))
                }
                _ => return false,
            };
            *current = next;
            true
        });
    }

    pub fn status(&self) -> WorkerStatus {
        self.0.borrow().clone()
    }

    /// Why the worker is not consuming, if it is not.
    pub fn problem(&self) -> Option<String> {
        match self.status() {
            WorkerStatus::Consuming => None,
            WorkerStatus::Starting => Some("the worker is starting".into()),
            WorkerStatus::Unreachable(why) => Some(format!("the worker cannot consume: {why}")),
            WorkerStatus::Restarting(why) => {
                Some(format!("the worker failed and is restarting: {why}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_coming_and_going_move_only_a_running_worker() {
        let health = WorkerHealth::default();
        health.brokers_reachable(false, "b:9092");
        assert_eq!(health.status(), WorkerStatus::Starting);
        health.set(WorkerStatus::Consuming);
        assert_eq!(health.problem(), None);
        health.brokers_reachable(false, "b:9092");
        assert!(
            health
                .problem()
                .unwrap()
                .contains("no Kafka broker of b:9092")
        );
        health.brokers_reachable(true, "b:9092");
        assert_eq!(health.status(), WorkerStatus::Consuming);
        health.set(WorkerStatus::Restarting("topic check failed".into()));
        health.brokers_reachable(true, "b:9092");
        assert!(
            health
                .problem()
                .unwrap()
                .contains("restarting: topic check failed")
        );
    }
}
