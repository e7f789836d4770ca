"""What the Python drivers send: a varied, deterministic plan of N records.

Shared by otlp_python.py, loki_python.py and elastic_python.py (imported from
the script's own directory). Each record is a dict with level, message,
timestamp_ns and typed attributes; the drivers print, one JSON object a line,
each record as they expect LogStream to store it (see `expected`).
"""
import argparse
import datetime
import json
import sys
import time

LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


def parse_args(description, default_service, extra=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:3000")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--token", default=None)
    p.add_argument("--run", required=True, help="unique string put in every message and as attribute `run`")
    p.add_argument("--service", default=default_service)
    p.add_argument("--host", default="driver-host", help="host name sent (resource host.name, label or field)")
    if extra:
        extra(p)
    args = p.parse_args()
    args.url = args.url.rstrip("/")
    return args


def plan(run, count):
    """N records: levels TRACE..FATAL in turn, nanosecond timestamps 1 ms apart
    ending now, attributes of every OTLP value type (int, bool, double, string,
    nested map, array, an int beyond 2^53)."""
    base = time.time_ns() - count * 1_000_000
    out = []
    for i in range(count):
        level = LEVELS[i % 6]
        attrs = {"run": run, "seq": i}
        k = i % 4
        if k == 0:
            attrs.update({"user.id": 1000 + i, "cached": True})
        elif k == 1:
            attrs.update({"latency_ms": 12.5, "http": {"method": "GET", "status": 200}})
        elif k == 2:
            attrs.update({"tags": ["a", "b"], "ok": False})
        else:
            attrs.update({"ratio": 0.25, "big": 9007199254740993})
        text = "caf\u00e9 \u2713 unicode" if i % 6 == 4 else f"{level.lower()} message"
        out.append({
            "level": level,
            "message": f"{run} #{i} {text}",
            "timestamp_ns": base + i * 1_000_000 + 123,
            "attributes": attrs,
        })
    return out


def rfc3339_ns(ns):
    secs, frac = divmod(ns, 1_000_000_000)
    t = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def expected(service, level, message, attributes, timestamp_ns=None, host=None, trace_id=None, span_id=None):
    rec = {"service": service, "level": level, "message": message}
    if timestamp_ns is not None:
        rec["timestamp"] = rfc3339_ns(timestamp_ns)
    if host is not None:
        rec["host"] = host
    if trace_id:
        rec["trace_id"] = trace_id
    if span_id:
        rec["span_id"] = span_id
    rec["attributes"] = attributes
    return rec


def emit_expected(records):
    for rec in records:
        sys.stdout.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
    sys.stdout.flush()


def fail(what):
    sys.stderr.write(f"{sys.argv[0]}: {what}\n")
    sys.exit(1)
