// What the Node drivers send: the same varied plan of N records as
// clientplan.py (levels TRACE..FATAL in turn, timestamps 1 ms apart ending
// now, typed attributes), plus argument parsing and the module loader.
//
// The client packages are not beside these files: `scripts/clients install`
// puts them in $LOGSTREAM_CLIENTS_NODE_MODULES. NODE_PATH does not apply to
// ES modules, so `clientRequire` is a CommonJS `require` created (with
// module.createRequire) at a path inside that folder's parent; every package
// used here ships a CommonJS build.
import { createRequire } from 'node:module'
import path from 'node:path'
import { parseArgs } from 'node:util'

export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']

export function clientRequire () {
  const modules = process.env.LOGSTREAM_CLIENTS_NODE_MODULES
  if (!modules) fail('LOGSTREAM_CLIENTS_NODE_MODULES is not set (. <(scripts/clients env))')
  return createRequire(path.join(path.resolve(modules), '..', 'logstream-driver.cjs'))
}

export function args (defaultService, extra = {}) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      count: { type: 'string', default: '5' },
      token: { type: 'string' },
      run: { type: 'string' },
      service: { type: 'string', default: defaultService },
      host: { type: 'string', default: 'driver-host' },
      ...extra
    }
  })
  if (!values.url || !values.run) fail('usage: --url BASE --run ID [--count N] [--token T] [--service S] [--host H]')
  values.url = values.url.replace(/\/+$/, '')
  values.count = Number(values.count)
  return values
}

// timestampMs: a whole millisecond (for clients that only carry ms);
// timestampNs: a BigInt with sub-millisecond digits.
export function plan (run, count, { msOnly = false } = {}) {
  const baseMs = Date.now() - count
  const out = []
  for (let i = 0; i < count; i++) {
    const level = LEVELS[i % 6]
    const attributes = { run, seq: i }
    switch (i % 4) {
      case 0: Object.assign(attributes, { 'user.id': 1000 + i, cached: true }); break
      case 1: Object.assign(attributes, { latency_ms: 12.5, http: { method: 'GET', status: 200 } }); break
      case 2: Object.assign(attributes, { tags: ['a', 'b'], ok: false }); break
      default: Object.assign(attributes, { ratio: 0.25, big: 4294967297 })
    }
    const text = i % 6 === 4 ? 'café ✓ unicode' : `${level.toLowerCase()} message`
    const timestampMs = baseMs + i
    const timestampNs = BigInt(timestampMs) * 1000000n + (msOnly ? 0n : 123n)
    out.push({ level, message: `${run} #${i} ${text}`, timestampMs, timestampNs, attributes })
  }
  return out
}

export function rfc3339ns (ns) {
  const ms = Number(ns / 1000000n)
  const frac = (ns % 1000000000n).toString().padStart(9, '0')
  return new Date(ms).toISOString().slice(0, 19) + '.' + frac + 'Z'
}

export function expected ({ service, level, message, attributes, timestampNs, host, traceId, spanId }) {
  const rec = { service, level, message }
  if (timestampNs !== undefined) rec.timestamp = rfc3339ns(timestampNs)
  if (host !== undefined) rec.host = host
  if (traceId) rec.trace_id = traceId
  if (spanId) rec.span_id = spanId
  rec.attributes = attributes
  return rec
}

// Resolves once the whole text is handed to the OS: a pipe that is full
// makes Node queue the rest, which a process.exit() right after would drop.
export function emitExpected (records) {
  const text = records.map(r => JSON.stringify(r) + '\n').join('')
  return new Promise((resolve, reject) => process.stdout.write(text, e => (e ? reject(e) : resolve())))
}

export function fail (what) {
  process.stderr.write(`${path.basename(process.argv[1])}: ${what}\n`)
  process.exit(1)
}
