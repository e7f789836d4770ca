#!/usr/bin/env python3
"""Indexes --count log documents with the real elasticsearch 8.19 Python
client: helpers.bulk() into --index, which posts NDJSON to
--url + /{index}/_bulk (or, with --per-doc-index, `_index` in each action
line and POST /_bulk).

    . <(scripts/clients env)
    "$LOGSTREAM_CLIENTS_PYTHON" testkit/clients/elastic_python.py --url http://127.0.0.1:3000 \
        --count 5 --run r1 [--index logs-test] [--per-doc-index] [--token T [--bearer]] \
        [--service S] [--host H]

--token T sends basic_auth=("logstream", T); with --bearer, bearer_auth=T
(`Authorization: Bearer T`).
Documents: `@timestamp` (RFC3339 with ns), `message`, the level, service and
host, and for every third record trace and span ids. Even records use ECS
objects ({"log": {"level": ..}, "service": {"name": ..}, "host": {"name": ..},
"trace": {"id": ..}, "span": {"id": ..}}), odd ones the same fields as dotted
keys ("log.level", "service.name", ...). Levels are lower-case ECS names
(trace, debug, info, warn, error, fatal). Every other field (run, seq and the
typed ones: ints, bools, doubles, an array, a nested object) is an attribute.
Prints one JSON object a line, the records as LogStream should store them.

The client requires `X-Elastic-Product: Elasticsearch` on every 2xx response
(else UnsupportedProductError); a response to _bulk must be
{"took":..,"errors":..,"items":[{"index":{"status":..}}, ...]}. Exits 1 when
the client raises (transport error, non-2xx, product check, or
BulkIndexError: an item with status >= 300) or when fewer than --count
documents were acknowledged.
"""
import sys

import clientplan
from elasticsearch import Elasticsearch, helpers


def extra(p):
    p.add_argument("--index", default="logs-test")
    p.add_argument("--per-doc-index", action="store_true", help="_index in each action; POST /_bulk")
    p.add_argument("--bearer", action="store_true", help="send --token as bearer_auth instead of basic_auth")


def main():
    args = clientplan.parse_args(__doc__, "es-python", extra)
    auth = {}
    if args.token:
        auth = {"bearer_auth": args.token} if args.bearer else {"basic_auth": ("logstream", args.token)}
    es = Elasticsearch(args.url, request_timeout=5, max_retries=1, **auth)

    actions, out = [], []
    for i, r in enumerate(clientplan.plan(args.run, args.count)):
        ts = clientplan.rfc3339_ns(r["timestamp_ns"])
        trace_id = span_id = None
        if i % 3 == 2:
            trace_id, span_id = f"{0x4bf92f3577b34da6a3ce929d0e0e4736 + i:032x}", f"{0x00f067aa0ba902b7 + i:016x}"
        level = r["level"].lower()
        doc = {"@timestamp": ts, "message": r["message"]}
        if i % 2 == 0:
            doc.update({"log": {"level": level}, "service": {"name": args.service}, "host": {"name": args.host}})
            if trace_id:
                doc.update({"trace": {"id": trace_id}, "span": {"id": span_id}})
        else:
            doc.update({"log.level": level, "service.name": args.service, "host.name": args.host})
            if trace_id:
                doc.update({"trace.id": trace_id, "span.id": span_id})
        doc.update(r["attributes"])
        action = {"_op_type": "index", "_source": doc}
        if args.per_doc_index:
            action["_index"] = args.index
        actions.append(action)
        out.append(clientplan.expected(args.service, r["level"], r["message"], r["attributes"],
                                       r["timestamp_ns"], args.host, trace_id, span_id))

    try:
        kwargs = {} if args.per_doc_index else {"index": args.index}
        ok, errors = helpers.bulk(es, actions, **kwargs)
    except Exception as e:  # noqa: BLE001 - any client error fails the run
        clientplan.emit_expected(out)
        clientplan.fail(f"bulk failed: {type(e).__name__}: {e}")
    finally:
        es.close()
    clientplan.emit_expected(out)
    if errors or ok != args.count:
        clientplan.fail(f"{ok} of {args.count} documents acknowledged; errors: {errors}")


if __name__ == "__main__":
    main()
