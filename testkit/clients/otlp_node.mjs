// Sends --count log records with the real OpenTelemetry JS SDK
// (@opentelemetry/sdk-logs 3: LoggerProvider({ resource, processors: [new
// BatchLogRecordProcessor({ exporter })] }) -- 3.x takes an options object --
// @opentelemetry/exporter-logs-otlp-http, which posts OTLP/JSON) to
// --url + /v1/logs, then shuts the provider down.
//
//   . <(scripts/clients env)
//   node testkit/clients/otlp_node.mjs --url http://127.0.0.1:3000 --count 5 --run r1 \
//       [--token T] [--gzip] [--service S] [--host H]
//
// Modules load from $LOGSTREAM_CLIENTS_NODE_MODULES through createRequire (see
// clientplan.mjs); NODE_PATH is not used. --gzip sets the exporter's
// compression: 'gzip' (Content-Encoding: gzip). --token T sends
// `Authorization: Bearer T`. Every third record carries a trace context: it is
// emitted with `context` set to a context holding a sampled span context
// (trace.setSpanContext), as a bridge inside an active span would.
// Prints one JSON object a line, the records as LogStream should store them.
// Exits 1 unless every export the processor made reported SUCCESS (the SDK
// only hands failures to the global error handler, i.e. diag.error; the
// driver wraps the exporter to see each result) and nothing was logged at
// diag ERROR.
import { randomBytes } from 'node:crypto'
import { args, clientRequire, emitExpected, expected, fail, plan } from './clientplan.mjs'

const require = clientRequire()
const api = require('@opentelemetry/api')
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs')
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http')
const { resourceFromAttributes } = require('@opentelemetry/resources')

const opts = args('otlp-node', { gzip: { type: 'boolean', default: false } })
const diagErrors = []
api.diag.setLogger({
  error: (...a) => { diagErrors.push(a); process.stderr.write(`otel: ERROR ${a.join(' ')}\n`) },
  warn: (...a) => process.stderr.write(`otel: WARN ${a.join(' ')}\n`),
  info: () => {}, debug: () => {}, verbose: () => {}
}, api.DiagLogLevel.WARN)

const inner = new OTLPLogExporter({
  url: opts.url + '/v1/logs',
  headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
  timeoutMillis: 5000,
  compression: opts.gzip ? 'gzip' : 'none'
})
const results = { exported: 0, failures: 0, errors: [] }
const exporter = {
  export (records, done) {
    inner.export(records, result => {
      if (result.code === 0) results.exported += records.length
      else { results.failures++; results.errors.push(result.error) }
      done(result)
    })
  },
  forceFlush: () => inner.forceFlush(),
  shutdown: () => inner.shutdown()
}

const resource = resourceFromAttributes({ 'service.name': opts.service, 'host.name': opts.host })
const provider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter })]  })
const logger = provider.getLogger('logstream.testkit.otlp_node', '1.0')

const out = []
plan(opts.run, opts.count).forEach((r, i) => {
  const ns = r.timestampNs
  const record = {
    timestamp: [Number(ns / 1000000000n), Number(ns % 1000000000n)], // HrTime: ns precision
    severityNumber: api.SeverityNumber[r.level],
    severityText: r.level,
    body: r.message,
    attributes: r.attributes
  }
  let traceId, spanId
  if (i % 3 === 2) {
    traceId = randomBytes(16).toString('hex')
    spanId = randomBytes(8).toString('hex')
    record.context = api.trace.setSpanContext(api.context.active(),
      { traceId, spanId, traceFlags: api.TraceFlags.SAMPLED, isRemote: false })
  }
  logger.emit(record)
  out.push(expected({ service: opts.service, level: r.level, message: r.message, attributes: r.attributes,
    timestampNs: ns, host: opts.host, traceId, spanId }))
})

await provider.forceFlush()
await provider.shutdown()
await emitExpected(out)
if (results.failures || results.exported !== opts.count) {
  fail(`${results.failures} failed exports (${results.errors.map(String).join('; ')}); ` +
    `${results.exported} of ${opts.count} records exported`)
}
if (diagErrors.length) fail('the OpenTelemetry SDK logged an error')
