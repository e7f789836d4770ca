#!/usr/bin/env python3
"""Sends --count log records with the real OpenTelemetry Python SDK
(LoggerProvider + BatchLogRecordProcessor + OTLPLogExporter, protobuf over
HTTP) to --url + /v1/logs, then shuts the provider down.

Run with the venv that `scripts/clients install` makes:
    . <(scripts/clients env)
    "$LOGSTREAM_CLIENTS_PYTHON" testkit/clients/otlp_python.py --url http://127.0.0.1:3000 \
        --count 5 --run r1 [--token T] [--gzip] [--service S] [--host H]

--token T sends `Authorization: Bearer T`. Every third record is emitted
inside an active span of the SDK tracer, so it carries that trace and span id.
Prints one JSON object a line, the records as LogStream should store them.
Exits 1 unless every export the exporter attempted returned SUCCESS (the SDK
only logs export failures; the driver wraps the exporter to see the result)
and no ERROR was logged by the SDK.
"""
import logging
import sys

import clientplan
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

SEVERITY = {
    "TRACE": SeverityNumber.TRACE, "DEBUG": SeverityNumber.DEBUG, "INFO": SeverityNumber.INFO,
    "WARN": SeverityNumber.WARN, "ERROR": SeverityNumber.ERROR, "FATAL": SeverityNumber.FATAL,
}


class Checked(LogRecordExporter):
    """Passes batches to the real exporter and remembers every result."""

    def __init__(self, inner):
        self.inner, self.exported, self.failures = inner, 0, 0

    def export(self, batch):
        result = self.inner.export(batch)
        if result == LogRecordExportResult.SUCCESS:
            self.exported += len(batch)
        else:
            self.failures += 1
        return result

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)

    def shutdown(self):
        self.inner.shutdown()


class Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.errors = []

    def emit(self, record):
        self.errors.append(record)
        sys.stderr.write(f"otel: {record.levelname} {record.getMessage()}\n")


def main():
    args = clientplan.parse_args(__doc__, "otlp-python",
                                 lambda p: p.add_argument("--gzip", action="store_true", help="Compression.Gzip"))
    errors = Errors()
    logging.getLogger("opentelemetry").addHandler(errors)

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    exporter = Checked(OTLPLogExporter(
        endpoint=args.url + "/v1/logs", headers=headers, timeout=5,
        compression=Compression.Gzip if args.gzip else Compression.NoCompression))
    resource = Resource.create({"service.name": args.service, "host.name": args.host})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("logstream.testkit.otlp_python", "1.0")
    tracer = TracerProvider(resource=resource).get_tracer("logstream.testkit.otlp_python")

    out = []
    for i, r in enumerate(clientplan.plan(args.run, args.count)):
        fields = dict(timestamp=r["timestamp_ns"], severity_number=SEVERITY[r["level"]],
                      severity_text=r["level"], body=r["message"], attributes=r["attributes"])
        trace_id = span_id = None
        if i % 3 == 2:
            with tracer.start_as_current_span(f"op-{i}") as span:
                ctx = span.get_span_context()
                trace_id, span_id = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
                logger.emit(**fields)  # takes the active span's context
        else:
            logger.emit(**fields)
        out.append(clientplan.expected(args.service, r["level"], r["message"], r["attributes"],
                                       r["timestamp_ns"], args.host, trace_id, span_id))

    flushed = provider.force_flush(10_000)
    provider.shutdown()
    clientplan.emit_expected(out)
    if not flushed:
        clientplan.fail("force_flush timed out")
    if exporter.failures or exporter.exported != args.count:
        clientplan.fail(f"{exporter.failures} failed exports; {exporter.exported} of {args.count} records exported")
    if any(e.levelno >= logging.ERROR for e in errors.errors):
        clientplan.fail("the OpenTelemetry SDK logged an error")


if __name__ == "__main__":
    main()
