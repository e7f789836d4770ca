//! `lsctl`'s help, completions and manual: every subcommand shows examples
//! that really run, exit codes are documented, completions and man pages
//! come out.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use logstream_testkit::{TestDaemon, lsctl};

const SUBCOMMANDS: [&str; 6] = ["send", "query", "stats", "tail", "completions", "man"];

/// `lsctl ARGS` without a daemon; it must succeed. Its stdout.
fn offline(args: &[&str]) -> String {
    let output = Command::cargo_bin("lsctl")
        .unwrap()
        .args(args)
        .env("LSCTL_CONFIG", "/dev/null")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "lsctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn completions_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let script = offline(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        for subcommand in SUBCOMMANDS {
            assert!(script.contains(subcommand), "{shell} lacks {subcommand}");
        }
        assert!(
            script.contains("--min-level"),
            "{shell} lacks query's flags"
        );
    }
    // Neither a daemon nor a readable config file is needed.
    let output = Command::cargo_bin("lsctl")
        .unwrap()
        .args(["completions", "bash"])
        .env("LSCTL_CONFIG", "/nonexistent/lsctl.toml")
        .env("LOGSTREAM_URL", "not a url")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let output = Command::cargo_bin("lsctl")
        .unwrap()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn man_prints_roff_pages_for_lsctl_and_each_subcommand() {
    let page = offline(&["man"]);
    // clap_mangen starts with the groff/troff definition of \*(Aq, then the header.
    let header = page
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .unwrap();
    assert!(header.starts_with(".TH lsctl 1"), "{header}");
    assert!(page.contains(".SH SYNOPSIS") && page.contains("Exit codes"));
    for subcommand in SUBCOMMANDS {
        assert!(
            page.contains(&format!("lsctl\\-{subcommand}(1)")),
            "{subcommand}"
        );
        let page = offline(&["man", subcommand]);
        assert!(
            page.contains(&format!(".TH lsctl-{subcommand} 1")),
            "{subcommand}: {page}"
        );
        assert!(page.contains("Examples"), "{subcommand}");
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let help = offline(&["--help"]);
    for code in [
        "0  success",
        "1  usage error",
        "2  delivery failure",
        "3  the daemon could not be reached",
        "4  access denied",
    ] {
        assert!(help.contains(code), "{code}: {help}");
    }
    for subcommand in SUBCOMMANDS {
        assert!(help.contains(subcommand), "{subcommand}");
    }
    for subcommand in ["query", "tail", "completions", "man"] {
        let help = offline(&[subcommand, "--help"]);
        assert!(
            help.contains("Exit codes: 0 success"),
            "{subcommand}: {help}"
        );
    }
}

/// The example command lines of a subcommand's `--help` (those starting with
/// `lsctl`), each cut at a pipe, redirection or comment and split as a shell
/// would: the arguments lsctl gets.
fn examples(help: &str) -> Vec<Vec<String>> {
    help.lines()
        .filter_map(|line| line.strip_prefix("  lsctl "))
        .map(shell_words)
        .collect()
}

/// Words of a simple shell command: '…' and "…" (with \" and \\) quoting,
/// ending at an unquoted |, > or # that starts a word.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => words.extend(word.take()),
            '|' | '>' => break,
            '#' if word.is_none() => break,
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$')) => {
                            w.push(chars.next().unwrap())
                        }
                        c => w.push(c),
                    }
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words(r#"tail --since 10m '"connection refused"' # the last"#),
        ["tail", "--since", "10m", "\"connection refused\""]
    );
    assert_eq!(
        shell_words(r#"query -o json "a \"b\"" | jq .message"#),
        ["query", "-o", "json", "a \"b\""]
    );
}

/// Every example in every subcommand's help runs against a daemon and
/// succeeds (or, for `tail`, is still following after a moment).
#[test]
fn every_help_example_runs() {
    let daemon = TestDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for subcommand in SUBCOMMANDS {
        let help = offline(&[subcommand, "--help"]);
        assert!(help.contains("Examples:"), "{subcommand} has no examples");
        let examples = examples(&help);
        assert!(!examples.is_empty(), "{subcommand}: no runnable example");
        for args in examples {
            assert_eq!(args[0], subcommand, "an example of another subcommand");
            // The log files that examples read.
            for file in args.iter().filter(|a| a.ends_with(".log")) {
                std::fs::write(dir.path().join(file), "ERROR one\ntwo\n").unwrap();
            }
            let mut child = lsctl(&daemon)
                .args(&args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let started = Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if started.elapsed() > Duration::from_secs(3) {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            match status {
                Some(status) => {
                    let output = child.wait_with_output().unwrap();
                    assert!(
                        status.success(),
                        "lsctl {args:?}: {status:?} {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                None => {
                    // Only a live tail or a `send --follow` may still be running.
                    let follows = args.iter().any(|a| a == "--follow" || a == "-F");
                    assert!(subcommand == "tail" || follows, "lsctl {args:?} hangs");
                    child.kill().unwrap();
                    child.wait().unwrap();
                }
            }
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} examples");
}
