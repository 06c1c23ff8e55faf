// Yjs peer of bench/bench_sync.cpp: the same logical workloads, run against a
// real y-websocket server process (node_modules/y-websocket/bin/server.js,
// the stock server of y-websocket 1.5.4) on loopback. Clients are stock
// WebsocketProvider instances (BroadcastChannel disabled, so every update
// goes through the server) in this process; the throughput writer runs in a
// worker thread so that writing and applying do not share one event loop.
//
//   catchup     a source doc with N writes (10 client ids, one map `set` of a
//               40-byte value each, keys k<i % KEYS>) is pushed into a room;
//               the server holds it in memory (rep 0, a first fresh client,
//               is the warm-up and not counted). Per rep a fresh Y.Doc
//               connects; time from creating the provider until its state
//               vector equals the source's (checked on every applied update),
//               then the map contents are compared with the source's.
//   latency     one writer and P peers in one room (star through the server);
//               W paced writes at RATE/s after 200 warm-up writes; latency =
//               performance.now() from the write call to the peer's map
//               observer seeing that write, over all peers.
//   throughput  a writer (worker thread) writes as fast as it goes for S
//               seconds (bounded by the socket's send buffer); applied
//               updates/s on another client over the steady window (the
//               first min(0.5 s, S/6) skipped), as bench_sync.
//
// Output: one JSON object per run and per scenario summary on stdout
// ("kind":"run" | "summary"); progress on stderr.
//
// Environment (defaults in brackets; the names of bench_sync where they mean
// the same):
//   STARLING_BENCH_N         catch-up writes [100000]
//   STARLING_BENCH_KEYS      catch-up key space, 0 = every write a new key [1000]
//   STARLING_BENCH_REPS      repetitions [3]
//   STARLING_BENCH_WRITES    latency: writes per run [3000]
//   STARLING_BENCH_RATE      latency: writes per second [1000]
//   STARLING_BENCH_PEERS     latency: peer counts [8]
//   STARLING_BENCH_SECONDS   throughput: seconds of writing [3]
//   STARLING_BENCH_ONLY      comma list of catchup,latency,throughput [all]
//   STARLING_BENCH_SAMPLES   latency: a directory to write every sample to
//                            (yjs_latency_p<P>_rep<R>.txt, ms, one a line) []
//   YPERSISTENCE             passed to the server (y-leveldb needed; unset here)
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const here = dirname(fileURLToPath(import.meta.url))
const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d)
const envInt = (k, d) => parseInt(env(k, String(d)), 10)
const log = (...a) => process.stderr.write('bench.mjs: ' + a.join(' ') + '\n')
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const loadavg = () => { try { return readFileSync('/proc/loadavg', 'utf8').trim() } catch { return '?' } }
const median = v => {
  if (!v.length) return 0
  const s = [...v].sort((a, b) => a - b)
  const n = s.length
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}
// Nearest-rank percentile of a sorted array, as bench_sync.
const percentile = (sorted, p) => {
  if (!sorted.length) return 0
  const rank = Math.ceil(p * sorted.length)
  return sorted[Math.min(sorted.length - 1, rank === 0 ? 0 : rank - 1)]
}
const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d
const out = obj => process.stdout.write(JSON.stringify({ system: 'yjs', ...obj }) + '\n')

// "w0000000123-xxxx..." (40 bytes): the write's index, as bench_sync.
const indexedValue = i => ('w' + String(i).padStart(10, '0') + '-').padEnd(40, 'x')
const indexOf = v => (typeof v === 'string' && v[0] === 'w' ? parseInt(v.slice(1, 11), 10) : -1)

// ------------------------------------------------------------ server + clients

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer()
  s.unref()
  s.on('error', reject)
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
})

async function startServer () {
  const port = await freePort()
  const serverJs = join(here, 'node_modules', 'y-websocket', 'bin', 'server.js')
  const child = spawn(process.execPath, [serverJs], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  await new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', d => { buf += d; if (buf.includes('running at')) resolve() })
    child.on('exit', code => reject(new Error('y-websocket server exited with ' + code)))
    setTimeout(() => reject(new Error('y-websocket server did not start')), 10000)
  })
  child.stdout.resume()
  return { url: `ws://127.0.0.1:${port}`, child, stop: () => child.kill('SIGTERM') }
}

function connect (url, room, doc) {
  return new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
}

const waitFor = (provider, ev) => new Promise(resolve => {
  if (ev === 'synced' && provider.synced) return resolve()
  const f = (...a) => { provider.off(ev, f); resolve(a) }
  provider.on(ev, f)
})

const svMap = doc => Y.decodeStateVector(Y.encodeStateVector(doc))
function svEquals (a, b) {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}

// ------------------------------------------------------------------ catch-up

async function scenarioCatchup (server, n, keys, reps) {
  const room = 'catchup-' + process.pid
  // The source: one doc, 10 client ids (authors) taking turns, one write per
  // transaction, as bench_sync's preload (10 authors, one change each).
  const t0 = performance.now()
  const src = new Y.Doc()
  const authors = Array.from({ length: 10 }, (_, a) => 0x5b000000 + a + 1)
  const m = src.getMap('m')
  const value = 'v'.repeat(40)
  for (let i = 0; i < n; i++) {
    src.clientID = authors[i % 10]
    src.transact(() => m.set('k' + (keys ? i % keys : i), value))
  }
  const buildS = (performance.now() - t0) / 1000
  const srcSv = svMap(src)
  const stateBytes = Y.encodeStateAsUpdate(src).length
  // Push it into the room; keep the source connected (the server keeps a room
  // without persistence in memory either way).
  const t1 = performance.now()
  const sp = connect(server.url, room, src)
  await waitFor(sp, 'synced')
  const pushS = (performance.now() - t1) / 1000
  log(`catchup n=${n} keys=${keys || 'distinct'}: source built in ${round(buildS)} s, state ${stateBytes} bytes, pushed in ${round(pushS)} s`)

  const runs = []
  for (let rep = 0; rep <= reps; rep++) {
    const doc = new Y.Doc()
    let done = null
    let updates = 0
    let bytesIn = 0
    const finished = new Promise(resolve => {
      doc.on('update', u => {
        updates++
        bytesIn += u.length
        if (!done && svEquals(svMap(doc), srcSv)) { done = performance.now(); resolve() }
      })
    })
    const c0 = performance.now()
    const p = connect(server.url, room, doc)
    const timeout = sleep(60000 + n / 10).then(() => { throw new Error(`catchup rep=${rep}: not caught up`) })
    await Promise.race([finished, timeout])
    const seconds = (done - c0) / 1000
    // Check (off the clock): the same map contents as the source.
    const a = m.toJSON(); const b = doc.getMap('m').toJSON()
    const ka = Object.keys(a); const kb = Object.keys(b)
    if (ka.length !== kb.length || ka.some(k => a[k] !== b[k])) throw new Error(`catchup rep=${rep}: map differs from the source`)
    p.destroy()
    doc.destroy()
    if (rep === 0) { log(`catchup warm-up (server had to apply the source's state): ${round(seconds)} s`); continue }
    const r = { kind: 'run', scenario: 'catchup', rep, n, keys, seconds: round(seconds, 4), changes_per_s: Math.round(n / seconds), update_messages: updates, bytes_in: bytesIn, state_bytes: stateBytes, load: loadavg() }
    runs.push(r)
    out(r)
    await sleep(200)
  }
  sp.destroy()
  src.destroy()
  const s = { kind: 'summary', scenario: 'catchup', n, keys, reps, median_seconds: round(median(runs.map(r => r.seconds)), 4), median_changes_per_s: Math.round(median(runs.map(r => r.changes_per_s))), state_bytes: stateBytes, source_build_s: round(buildS), source_push_s: round(pushS) }
  out(s)
  return s
}

// ------------------------------------------------------------------- latency

async function scenarioLatency (server, peers, writes, rate, reps, samplesDir) {
  const runs = []
  for (let rep = 1; rep <= reps; rep++) {
    const room = `latency-${process.pid}-${peers}-${rep}`
    const wdoc = new Y.Doc()
    const wp = connect(server.url, room, wdoc)
    const wm = wdoc.getMap('m')
    const sendAt = new Float64Array(writes).fill(-1)
    const lat = Array.from({ length: peers }, () => new Float64Array(writes).fill(-1))
    const got = new Array(peers).fill(0)
    const warm = new Array(peers).fill(0)
    const ps = []
    let wake = null
    for (let p = 0; p < peers; p++) {
      const doc = new Y.Doc()
      const ymap = doc.getMap('m')
      ymap.observe(ev => {
        const t = performance.now()
        for (const k of ev.keysChanged) {
          const v = ymap.get(k)
          if (k === 'warm') { warm[p]++; continue }
          const i = indexOf(v)
          if (i >= 0 && i < writes && lat[p][i] < 0 && sendAt[i] >= 0) { lat[p][i] = t - sendAt[i]; got[p]++ }
        }
        if (wake) wake()
      })
      ps.push({ doc, provider: connect(server.url, room, doc) })
    }
    await Promise.all([waitFor(wp, 'synced'), ...ps.map(p => waitFor(p.provider, 'synced'))])
    const until = async (cond, ms, what) => {
      const deadline = performance.now() + ms
      while (!cond()) {
        if (performance.now() > deadline) throw new Error('latency: ' + what)
        await new Promise(resolve => { wake = resolve; setTimeout(resolve, 5) })
        wake = null
      }
    }
    const period = 1000 / rate
    // Warm-up: 200 paced writes, until every peer has them.
    const warmN = 200
    const w0 = performance.now()
    for (let i = 0; i < warmN; i++) {
      const due = w0 + i * period
      const d = due - performance.now()
      if (d > 1) await sleep(d)
      wm.set('warm', 'warm-' + i)
    }
    // Yjs may merge or skip observer events only if updates arrive in one
    // message; the server relays each, so count >= 1 per warm write arrived.
    await until(() => warm.every(w => w >= warmN), 60000, 'warm-up did not reach every peer')
    // Paced writes on a steady schedule; a timer fires at most every ~1 ms,
    // so each wake-up writes every write that is due (slip is reported).
    const start = performance.now() + 20
    let maxSlip = 0
    for (let i = 0; i < writes; i++) {
      const due = start + i * period
      let now = performance.now()
      if (due - now > 0.5) { await sleep(Math.max(0, due - now - 0.5)); now = performance.now() }
      while (now < due) now = performance.now() // spin the last fraction of a ms
      maxSlip = Math.max(maxSlip, now - due)
      sendAt[i] = performance.now()
      wm.set('w' + (i % 100), indexedValue(i))
    }
    await until(() => got.every(g => g >= writes), 30000, `a peer got ${Math.min(...got)} of ${writes} writes`)
    const all = []
    for (const l of lat) for (const x of l) all.push(x)
    all.sort((a, b) => a - b)
    if (samplesDir) {
      mkdirSync(samplesDir, { recursive: true })
      writeFileSync(join(samplesDir, `yjs_latency_p${peers}_rep${rep}.txt`), all.map(x => x.toFixed(4)).join('\n') + '\n')
    }
    const r = { kind: 'run', scenario: 'latency', peers, rep, writes, rate, samples: all.length, p50_ms: round(percentile(all, 0.5)), p99_ms: round(percentile(all, 0.99)), max_ms: round(all[all.length - 1]), schedule_slip_max_ms: round(maxSlip), load: loadavg() }
    runs.push(r)
    out(r)
    for (const p of ps) { p.provider.destroy(); p.doc.destroy() }
    wp.destroy()
    wdoc.destroy()
    await sleep(200)
  }
  const s = { kind: 'summary', scenario: 'latency', peers, reps, writes, rate, median_p50_ms: round(median(runs.map(r => r.p50_ms))), median_p99_ms: round(median(runs.map(r => r.p99_ms))), median_max_ms: round(median(runs.map(r => r.max_ms))) }
  out(s)
  return s
}

// ---------------------------------------------------------------- throughput

// The writer (worker thread): writes in slices of 256 transactions (one
// update message each), yielding to the event loop between slices so the
// socket drains, and waiting while more than 4 MiB are queued unsent.
async function throughputWriter ({ url, room, seconds }) {
  const doc = new Y.Doc()
  const p = connect(url, room, doc)
  await waitFor(p, 'synced')
  const m = doc.getMap('m')
  parentPort.postMessage({ ready: true })
  await new Promise(resolve => parentPort.once('message', resolve))
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  let i = 0
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++, i++) m.set('t' + (i % 64), indexedValue(i))
    while (p.ws && p.ws.bufferedAmount > (4 << 20) && performance.now() < end) await sleep(1)
    await new Promise(resolve => setImmediate(resolve))
  }
  const t1 = performance.now()
  while (p.ws && p.ws.bufferedAmount > 0) await sleep(1)
  parentPort.postMessage({ total: i, seconds: (t1 - t0) / 1000, startAbs: performance.timeOrigin + t0, stopAbs: performance.timeOrigin + t1 })
  await new Promise(resolve => parentPort.once('message', resolve))
  p.destroy()
  doc.destroy()
  process.exit(0)
}

async function scenarioThroughput (server, seconds, reps) {
  const runs = []
  for (let rep = 1; rep <= reps; rep++) {
    const room = `tput-${process.pid}-${rep}`
    const doc = new Y.Doc()
    const m = doc.getMap('m')
    const series = [] // absolute ms of each applied write (one per update)
    m.observe(() => series.push(performance.timeOrigin + performance.now()))
    const rp = connect(server.url, room, doc)
    await waitFor(rp, 'synced')
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { role: 'writer', url: server.url, room, seconds } })
    const msgs = []
    let notify = null
    w.on('message', msg => { msgs.push(msg); if (notify) notify() })
    w.on('error', e => { throw e })
    const next = async () => { while (!msgs.length) await new Promise(resolve => { notify = resolve }); return msgs.shift() }
    await next() // ready
    w.postMessage('go')
    const res = await next()
    const deadline = performance.now() + 120000
    while (series.length < res.total) {
      if (performance.now() > deadline) throw new Error(`throughput: the reader got ${series.length} of ${res.total}`)
      await sleep(2)
    }
    const drained = series[series.length - 1]
    w.postMessage('exit')
    const skip = Math.min(500, seconds * 1000 / 6)
    const w0 = res.startAbs + skip
    const w1 = res.startAbs + seconds * 1000
    const inWindow = series.filter(t => t >= w0 && t < w1).length
    const peerRate = inWindow / ((w1 - w0) / 1000)
    const r = { kind: 'run', scenario: 'throughput', rep, seconds: round(res.seconds, 2), window_s: round((w1 - w0) / 1000, 2), peer_changes_per_s: Math.round(peerRate), writer_per_s: Math.round(res.total / res.seconds), total_writes: res.total, drain_after_stop_ms: round(Math.max(0, drained - res.stopAbs), 1), end_to_end_per_s: Math.round(res.total / ((drained - res.startAbs) / 1000)), load: loadavg() }
    runs.push(r)
    out(r)
    rp.destroy()
    doc.destroy()
    await new Promise(resolve => w.once('exit', resolve))
    await sleep(200)
  }
  const s = { kind: 'summary', scenario: 'throughput', reps, seconds, median_peer_changes_per_s: Math.round(median(runs.map(r => r.peer_changes_per_s))), median_writer_per_s: Math.round(median(runs.map(r => r.writer_per_s))) }
  out(s)
  return s
}

// ---------------------------------------------------------------------- main

async function main () {
  const only = env('STARLING_BENCH_ONLY', '')
  const selected = what => !only || only.split(',').includes(what)
  const reps = Math.max(1, envInt('STARLING_BENCH_REPS', 3))
  const n = envInt('STARLING_BENCH_N', 100000)
  const keys = envInt('STARLING_BENCH_KEYS', 1000)
  const writes = envInt('STARLING_BENCH_WRITES', 3000)
  const rate = envInt('STARLING_BENCH_RATE', 1000)
  const peers = env('STARLING_BENCH_PEERS', '8').split(',').filter(Boolean).map(Number)
  const seconds = Number(env('STARLING_BENCH_SECONDS', '3'))
  const samplesDir = env('STARLING_BENCH_SAMPLES', '')
  const versions = {}
  for (const p of ['yjs', 'y-websocket', 'y-protocols', 'ws']) {
    versions[p] = JSON.parse(readFileSync(join(here, 'node_modules', p, 'package.json'), 'utf8')).version
  }
  out({ kind: 'start', node: process.version, versions, persistence: process.env.YPERSISTENCE || null, load: loadavg(), n, keys, reps, writes, rate, peers, seconds })
  const server = await startServer()
  try {
    if (selected('catchup')) await scenarioCatchup(server, n, keys, reps)
    if (selected('latency')) for (const p of peers) await scenarioLatency(server, p, writes, rate, reps, samplesDir)
    if (selected('throughput')) await scenarioThroughput(server, seconds, reps)
  } finally {
    server.stop()
  }
  out({ kind: 'end', load: loadavg() })
}

if (isMainThread) {
  main().then(() => process.exit(0), e => { log('FAILED: ' + (e && e.stack ? e.stack : e)); out({ kind: 'failed', error: String(e), load: loadavg() }); process.exit(1) })
} else if (workerData && workerData.role === 'writer') {
  throughputWriter(workerData).catch(e => { log('writer FAILED: ' + e.stack); process.exit(1) })
}
