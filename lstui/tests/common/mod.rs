//! What lstui's end-to-end tests share: a tmux server of their own, lsctl
//! to send records, and readers of the screen.
#![allow(dead_code)] // each test file uses its own part

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logstream_testkit::{TestDaemon, binary};

/// How long anything may take to show on screen (debug builds, busy CI).
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A tmux server of our own (its own socket), running one shell; killed on drop.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    /// A 150×40 terminal running bash with a known prompt and no user config.
    pub(crate) fn start(config_home: &Path) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "tmux is needed for this test: apt-get install -y tmux (scripts/test installs it)"
        );
        let socket = format!(
            "lstui-test-{}-{}",
            std::process::id(),
            rand_suffix(config_home)
        );
        let tmux = Tmux { socket };
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "150",
            "-y",
            "40",
            &format!(
                "env 'PS1=lstui-test$ ' 'XDG_CONFIG_HOME={}' bash --norc --noprofile",
                config_home.display()
            ),
        ]);
        tmux.wait_for("the shell prompt", |screen| screen.contains("lstui-test$"));
        tmux
    }

    pub(crate) fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub(crate) fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    /// Keys by tmux name: "Enter", "Space", "Escape", "C-u", "q"…
    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Text typed as it is.
    pub(crate) fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
    }

    /// A format such as `#{alternate_on}` of the pane.
    pub(crate) fn pane(&self, format: &str) -> String {
        self.run(&["display-message", "-p", format])
            .trim()
            .to_string()
    }

    pub(crate) fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts lstui in the shell and waits until it is connected.
    pub(crate) fn start_lstui(&self, server: &str) {
        self.launch_lstui(server, "");
        self.wait_for("lstui to connect", |screen| screen.contains("● live"));
    }

    /// Types the command that starts lstui on `server` with `args` (and
    /// times in UTC, without the caller's token or URL), and Enter.
    pub(crate) fn launch_lstui(&self, server: &str, args: &str) {
        let command = format!(
            "env -u LOGSTREAM_TOKEN -u LOGSTREAM_URL {} --server {server} --utc {args}",
            binary("lstui").display()
        );
        self.type_text(&command);
        self.keys(&["Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Something unique per test in this process: the temp dir's name.
fn rand_suffix(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().replace('.', ""))
        .unwrap_or_default()
}

/// Sends lines through the real lsctl, as one service.
pub(crate) fn send(daemon: &TestDaemon, service: &str, lines: &[&str]) {
    let mut child = Command::new(binary("lsctl"))
        .args(["--server", &daemon.url, "send", "--service", service])
        .env_remove("LOGSTREAM_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start lsctl");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        writeln!(stdin, "{line}").expect("write to lsctl");
    }
    drop(stdin);
    assert!(child.wait().expect("lsctl").success(), "lsctl send failed");
}

/// The log list: the screen without its top three lines (filter bar, error or
/// toggles) and the status line, so that typed text does not count.
pub(crate) fn log_rows(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    lines[3.min(lines.len())..lines.len().saturating_sub(1)].join("\n")
}

/// The numbers of the `rec NNNNN` records on screen, top to bottom.
pub(crate) fn record_numbers(screen: &str) -> Vec<u32> {
    log_rows(screen)
        .split("rec ")
        .skip(1)
        .filter_map(|rest| rest.get(..5)?.parse().ok())
        .collect()
}
