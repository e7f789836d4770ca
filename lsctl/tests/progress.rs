//! `lsctl send FILE` on a terminal shows a progress bar and ends with a
//! summary line; piped, it prints nothing extra. The terminal is real: tmux.

use std::process::Command;
use std::time::{Duration, Instant};

use logstream_testkit::{TestDaemon, binary, fetch_all};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux is installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_on_a_terminal_shows_progress_then_a_summary() {
    let daemon = TestDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let lines: String = (0..100_000)
        .map(|i| format!("INFO request {i} handled\n"))
        .collect();
    std::fs::write(&file, lines).unwrap();
    let session = format!("lsctl-progress-{}", std::process::id());
    let command = format!(
        "LSCTL_CONFIG=/dev/null XDG_STATE_HOME={state} {lsctl} --server {url} send -s progress {file}; echo EXIT=$?; sleep 60",
        state = dir.path().display(),
        lsctl = binary("lsctl").display(),
        url = daemon.url,
        file = file.display(),
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "12",
        &command,
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut saw_bar, mut screen) = (false, String::new());
    while Instant::now() < deadline {
        screen = tmux(&["capture-pane", "-p", "-t", &session]);
        saw_bar |= screen.contains("lines sent") && screen.contains("MiB");
        if screen.contains("EXIT=") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(saw_bar, "no progress bar was seen:\n{screen}");
    assert!(
        screen.contains("lsctl: sent 100000 line(s), retried 0 time(s), spooled 0 line(s)"),
        "{screen}"
    );
    assert!(
        !screen.contains("lines sent"),
        "the bar is cleared at the end:\n{screen}"
    );
    // Every line exactly once.
    let client = reqwest::Client::new();
    let mut messages: Vec<String> = fetch_all(&client, &daemon, "service:progress")
        .await
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(messages.len(), 100_000, "stored");
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 100_000, "stored once each");

    // Piped: nothing but the records' delivery.
    let out = Command::new(binary("lsctl"))
        .args(["--server", &daemon.url, "send", "-s", "piped"])
        .arg(&file)
        .env("LSCTL_CONFIG", "/dev/null")
        .env("XDG_STATE_HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
