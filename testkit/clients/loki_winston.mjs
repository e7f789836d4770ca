// Sends --count log records with the real winston + winston-loki transport
// to --url (winston-loki's `host`; it posts to host + /loki/api/v1/push),
// then closes the transport, which sends the final batch.
//
//   . <(scripts/clients env)
//   node testkit/clients/loki_winston.mjs --url http://127.0.0.1:3000 --count 5 --run r1 \
//       [--json] [--token T] [--service S] [--service-label service_name] [--host H]
//
// Modules load from $LOGSTREAM_CLIENTS_NODE_MODULES through createRequire (see
// clientplan.mjs); NODE_PATH is not used.
// Default: snappy-compressed protobuf PushRequest (Content-Type
// application/x-protobuf, no Content-Encoding header); --json sets
// winston-loki's `json: true` (application/json, with each entry's winston
// meta as a third element, structured metadata, all values strings).
// Labels: the stream labels are `level` (set by winston-loki from the winston
// level: with the custom levels used here fatal/error/warn/info/debug/trace),
// then the transport's `labels`: <service-label>=S, run=ID, host=H.
// The line is the message alone (the transport is given a printf format;
// without one winston-loki appends JSON.stringify of the meta).
// Timestamps are the records' own (replaceTimestamp: false), to the ms.
// --token T sends `Authorization: Basic base64("logstream:T")` (basicAuth).
//
// Prints one JSON object a line: the record as LogStream should store it if
// service <- the service label, level <- the `level` label, host <- `host`,
// attributes <- the other labels (run) plus, with --json, the structured
// metadata except `level` (winston-loki puts the level there too); and under
// "loki" exactly what was sent for it: labels, line, structured_metadata.
// winston-loki never throws or rejects to the caller on a failed push: its
// batch loop swallows errors (then waits 60 s) and close() ignores them; the
// only signal is the `onConnectionError` option (called on any non-2xx or
// network error). The driver exits 1 if it was called, or if a push error
// was printed with console.error.
import { args, clientRequire, emitExpected, expected, fail, plan } from './clientplan.mjs'

const require = clientRequire()
const winston = require('winston')
const LokiTransport = require('winston-loki')

const opts = args('loki-winston', { json: { type: 'boolean', default: false }, 'service-label': { type: 'string', default: 'service_name' } })
const errors = []
const consoleError = console.error
console.error = (...a) => { errors.push(a); consoleError(...a) }

const labels = { [opts['service-label']]: opts.service, run: opts.run, host: opts.host }
const transport = new LokiTransport({
  host: opts.url,
  labels,
  json: opts.json,
  basicAuth: opts.token ? `logstream:${opts.token}` : undefined,
  replaceTimestamp: false,
  timeout: 5000,
  format: winston.format.printf(info => info.message),
  onConnectionError: err => { errors.push([err]); process.stderr.write(`winston-loki: ${err}\n`) }
})
const LEVELS = { fatal: 0, error: 1, warn: 2, info: 3, debug: 4, trace: 5 }
const logger = winston.createLogger({ levels: LEVELS, level: 'trace', transports: [transport] })

const out = []
for (const r of plan(opts.run, opts.count, { msOnly: true })) {
  const level = r.level.toLowerCase()
  const meta = { ...r.attributes }
  logger.log({ level, message: r.message, timestamp: new Date(r.timestampMs).toISOString(), ...meta })
  const metadata = { level }
  for (const [k, v] of Object.entries(meta)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v)
  const attributes = { run: opts.run }
  if (opts.json) Object.assign(attributes, Object.fromEntries(Object.entries(metadata).filter(([k]) => k !== 'level')))
  out.push({
    ...expected({ service: opts.service, level: r.level, message: r.message, attributes, timestampNs: r.timestampNs, host: opts.host }),
    loki: { labels: { level, ...labels }, line: r.message, ...(opts.json ? { structured_metadata: metadata } : {}) }
  })
}

// Let winston hand every record to the transport, then send the last batch.
await new Promise(resolve => setImmediate(resolve))
await transport.close()
await emitExpected(out)
if (errors.length) fail(`winston-loki reported ${errors.length} error(s)`)
process.exit(0)
