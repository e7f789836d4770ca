#!/usr/bin/env python3
"""Sends --count log records with the real python-logging-loki LokiHandler
(version "1": JSON to --url + /loki/api/v1/push), one POST per record, sent
synchronously inside logger.log().

    . <(scripts/clients env)
    "$LOGSTREAM_CLIENTS_PYTHON" testkit/clients/loki_python.py --url http://127.0.0.1:3000 \
        --count 5 --run r1 [--token T] [--service S] [--host H]

--token T sends HTTP basic auth ("logstream", T). Labels (`tags`):
service_name=S, run=ID, host=H, plus what the handler adds: `severity` = the
Python level name lower-cased (trace -- a custom level 5 registered here --,
debug, info, warning, error, critical) and `logger` = the logger's name; odd
records add the extra tag "request-id", which the handler renames
`request_id`. The line is the message (default Formatter). The handler
stamps each entry with time.time() when it sends, not the record's time, so
the printed records have no timestamp.
Prints one JSON object a line: the record as LogStream should store it if
service <- service_name, level <- severity, host <- host, attributes <- the
other labels; and under "loki" the exact labels and line sent.
The handler accepts only HTTP 204 (const.success_response_code): any other
status, 200 included, raises inside emit(), which calls handleError (prints
"--- Logging error ---" to stderr) and drops the record. The driver counts
handleError calls and exits 1 if there was any.
"""
import logging

import clientplan
import logging_loki

TRACE = 5
logging.addLevelName(TRACE, "TRACE")
PY_LEVEL = {"TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
            "ERROR": logging.ERROR, "FATAL": logging.CRITICAL}
LOGGER = "logstream.testkit.loki_python"


class CheckedLokiHandler(logging_loki.LokiHandler):
    failures = 0

    def handleError(self, record):  # noqa: N802
        self.failures += 1
        super().handleError(record)


def main():
    args = clientplan.parse_args(__doc__, "loki-python")
    tags = {"service_name": args.service, "run": args.run, "host": args.host}
    handler = CheckedLokiHandler(url=args.url + "/loki/api/v1/push", tags=tags, version="1",
                                 auth=("logstream", args.token) if args.token else None)
    logger = logging.getLogger(LOGGER)
    logger.setLevel(TRACE)
    logger.propagate = False
    logger.addHandler(handler)

    out = []
    for i, r in enumerate(clientplan.plan(args.run, args.count)):
        level = PY_LEVEL[r["level"]]
        extra_tags = {"request-id": f"req-{i}"} if i % 2 else {}
        logger.log(level, r["message"], extra={"tags": extra_tags})
        labels = dict(tags, severity=logging.getLevelName(level).lower(), logger=LOGGER)
        labels.update({k.replace("-", "_"): v for k, v in extra_tags.items()})
        attributes = {k: v for k, v in labels.items() if k not in ("service_name", "severity", "host")}
        rec = clientplan.expected(args.service, r["level"], r["message"], attributes, host=args.host)
        rec["loki"] = {"labels": labels, "line": r["message"]}
        out.append(rec)
    handler.close()
    clientplan.emit_expected(out)
    if handler.failures:
        clientplan.fail(f"{handler.failures} of {args.count} records failed to send (see the logging errors above)")


if __name__ == "__main__":
    main()
