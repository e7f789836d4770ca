//! JVM logging beyond log4j's ISO layout (which `text` reads): log4j with
//! two-digit years (Spark) and compact dates (HDFS), Tomcat's one-line
//! format, java.util.logging's two-line one, Kafka's and Elasticsearch's.

use logstream_shared::LogRecord;

use super::{Layout, Start, bracketed, is_number, level, nonempty, put, time};
use crate::text::{is_logger, token};
use crate::{Context, Parsed};

pub(super) const SPARK: Layout = Layout {
    name: "spark",
    aliases: &["log4j-short-year"],
    title: "Spark / log4j with two-digit years (yy/MM/dd HH:mm:ss)",
    example: "26/11/27 12:00:01 INFO executor.Executor: Finished task 0.0 in stage 1.0",
    start: Start::Digit,
    read: spark,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const HDFS: Layout = Layout {
    name: "hdfs",
    aliases: &["log4j-compact"],
    title: "Hadoop HDFS / log4j with compact dates (yyMMdd HHmmss pid)",
    example: "261127 120001 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
    start: Start::Digit,
    read: hdfs,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const TOMCAT: Layout = Layout {
    name: "tomcat",
    aliases: &["catalina", "jul-oneline"],
    title: "Tomcat (java.util.logging OneLineFormatter)",
    example: "27-Nov-2026 12:00:01.123 INFO [main] org.apache.catalina.startup.Catalina.start Server startup in [1234] milliseconds",
    start: Start::Digit,
    read: tomcat,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const JUL: Layout = Layout {
    name: "jul",
    aliases: &["java-util-logging"],
    title: "java.util.logging SimpleFormatter: a header line, then LEVEL: message",
    example: "Nov 27, 2026 12:00:01 PM com.example.App main\nSEVERE: cannot bind port 8080",
    start: Start::Letter,
    read: jul,
    follow: Some(jul_follow),
    general: false,
    wraps: false,
};

pub(super) const KAFKA: Layout = Layout {
    name: "kafka",
    aliases: &[],
    title: "Kafka broker ([time] LEVEL message (logger))",
    example: "[2026-11-27 12:00:01,123] INFO [KafkaServer id=0] started (kafka.server.KafkaServer)",
    start: Start::Bracket,
    read: kafka,
    follow: None,
    general: false,
    wraps: false,
};

pub(super) const ELASTICSEARCH: Layout = Layout {
    name: "elasticsearch",
    aliases: &["opensearch"],
    title: "Elasticsearch / OpenSearch plain-text log",
    example: "[2026-11-27T12:00:01,123][WARN ][o.e.c.r.a.DiskThresholdMonitor] [node-1] high disk watermark exceeded",
    start: Start::Bracket,
    read: elasticsearch,
    follow: None,
    general: false,
    wraps: false,
};

/// `LEVEL logger: message`, after a time (and a pid, for HDFS).
fn level_logger(rest: &str) -> Option<Parsed> {
    let (word, rest) = token(rest);
    let level = level::word(word)?;
    let (logger, message) = token(rest);
    let logger = logger.strip_suffix(':').filter(|l| is_logger(l))?;
    let mut parsed = Parsed {
        level: Some(level),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("logger", Some(logger))]);
    Some(parsed)
}

fn spark(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::short_year(line, cx)?;
    let mut parsed = level_logger(&line[len..])?;
    parsed.timestamp = Some(timestamp);
    Some(parsed)
}

fn hdfs(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::compact(line, cx)?;
    let (pid, rest) = token(&line[len..]);
    if !is_number(pid) {
        return None;
    }
    let mut parsed = level_logger(rest)?;
    parsed.timestamp = Some(timestamp);
    put(&mut parsed, &[("pid", Some(pid))]);
    Some(parsed)
}

fn tomcat(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::day_month_name(line, cx)?;
    let (word, rest) = token(&line[len..]);
    let (thread, rest) = bracketed(rest)?;
    let (source, message) = token(rest);
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level::word(word)?),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[("thread", Some(thread)), ("logger", Some(source))],
    );
    Some(parsed)
}

/// The header line, `Nov 27, 2026 12:00:01 PM com.example.App main`: its
/// message is the next line's, which also gives the level.
fn jul(line: &str, cx: Context) -> Option<Parsed> {
    let (timestamp, len) = time::month_name_12h(line, cx)?;
    let (class, rest) = token(&line[len..]);
    let (method, rest) = token(rest);
    if !is_logger(class) || method.is_empty() || !rest.is_empty() {
        return None;
    }
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        message: line.to_string(),
        ..Parsed::default()
    };
    put(
        &mut parsed,
        &[("logger", Some(class)), ("method", Some(method))],
    );
    parsed.open = true;
    Some(parsed)
}

/// `SEVERE: message` after the header.
fn jul_follow(record: &mut LogRecord, line: &str, _cx: Context) -> Option<bool> {
    let (word, message) = line.split_once(": ")?;
    let level = level::word(word).filter(|_| word.bytes().all(|b| b.is_ascii_uppercase()))?;
    record.level = level;
    record.message = nonempty(message, line);
    Some(false)
}

fn kafka(line: &str, cx: Context) -> Option<Parsed> {
    let (stamp, rest) = bracketed(line)?;
    let (timestamp, len) = time::iso(stamp, cx)?;
    let (word, message) = token(rest);
    if len != stamp.len() {
        return None;
    }
    let level = level::word(word)?;
    let (message, logger) = match message.rsplit_once(" (") {
        Some((text, logger)) if logger.ends_with(')') && is_logger(&logger[..logger.len() - 1]) => {
            (text, Some(&logger[..logger.len() - 1]))
        }
        _ => (message, None),
    };
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level),
        message: message.to_string(),
        ..Parsed::default()
    };
    put(&mut parsed, &[("logger", logger)]);
    Some(parsed)
}

fn elasticsearch(line: &str, cx: Context) -> Option<Parsed> {
    let (stamp, rest) = bracketed(line)?;
    let (timestamp, _) = time::iso(stamp, cx)?;
    let (word, rest) = bracketed(rest)?;
    let (logger, rest) = bracketed(rest)?;
    let mut parsed = Parsed {
        timestamp: Some(timestamp),
        level: Some(level::word(word.trim())?),
        ..Parsed::default()
    };
    let rest = rest.trim_start();
    let (node, message) = match bracketed(rest) {
        Some((node, after)) => (Some(node), after.trim_start()),
        None => (None, rest),
    };
    parsed.message = message.to_string();
    put(
        &mut parsed,
        &[("logger", Some(logger.trim())), ("node", node)],
    );
    Some(parsed)
}
