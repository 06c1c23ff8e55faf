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
//   restart     the catchup room and workload; a client whose Y.Doc already
//               holds the first 90 % of the updates (the same deterministic
//               sequence, loaded before the clock) connects (rep 0 is the
//               warm-up); time until its state vector equals the source's,
//               and the WebSocket message bytes the server sent it over the
//               size of the missing 10 % as a Yjs update
//               (Y.encodeStateAsUpdate(full, stateVectorOf90pc)).
//   footprint   a child Node process (--expose-gc) applies the source's
//               encoded state (the N updates) to a fresh Y.Doc: rss (and
//               heapUsed) after minus before, per change; "disk" = the encoded
//               state's size per change (the stock y-websocket server has no
//               persistence: the size a persisted state would take). One
//               summary line, as bench_sync.
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
//   STARLING_BENCH_ONLY      comma list of catchup,restart,footprint,latency,
//                            throughput [all]
//   STARLING_BENCH_SAMPLES   latency: a directory to write every sample to
//                            (yjs_latency_p<P>_rep<R>.txt, ms, one a line) []
//   YPERSISTENCE             passed to the server (y-leveldb needed; unset here)
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { writeFileSync, readFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
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

// The catch-up workload: writes [from, to) of the deterministic sequence, 10
// client ids (authors) taking turns, one write per transaction, as
// bench_sync's preload (10 authors, one change each). Deterministic: the doc
// built from writes [0, h) holds exactly the first h updates of the full one
// (same client ids, same clocks), which the restart scenario relies on.
function buildSource (n, keys, from = 0, doc = new Y.Doc()) {
  const authors = Array.from({ length: 10 }, (_, a) => 0x5b000000 + a + 1)
  const m = doc.getMap('m')
  const value = 'v'.repeat(40)
  const own = doc.clientID
  for (let i = from; i < n; i++) {
    doc.clientID = authors[i % 10]
    doc.transact(() => m.set('k' + (keys ? i % keys : i), value))
  }
  doc.clientID = own
  return doc
}

// A WebSocket (ws) that counts the bytes of the messages it receives and
// sends (WebSocket message payloads, as the server sent them; framing not
// counted, as starling's bytes_out counts its frames' payloads).
function countingWebSocket (counter) {
  return class extends WebSocket {
    constructor (...a) {
      super(...a)
      this.on('message', data => { counter.in += data.byteLength !== undefined ? data.byteLength : data.length; counter.msgsIn++ })
    }

    send (data, ...rest) {
      counter.out += data.byteLength !== undefined ? data.byteLength : data.length
      return super.send(data, ...rest)
    }
  }
}

async function scenarioCatchup (server, n, keys, reps) {
  const room = 'catchup-' + process.pid
  // The source: one doc, 10 client ids (authors) taking turns, one write per
  // transaction, as bench_sync's preload (10 authors, one change each).
  const t0 = performance.now()
  const src = buildSource(n, keys)
  const m = src.getMap('m')
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

// ------------------------------------------------------------------- restart

// A client that already holds the first 90 % of the source's updates (its
// Y.Doc loaded from that state before the clock starts, as a restarted client
// with local persistence would be) connects to the room holding all N; time
// from creating the provider until its state vector equals the source's; the
// bytes the server sent it (WebSocket message payloads, counted on the
// client) over the size of the missing updates as Yjs encodes them
// (Y.encodeStateAsUpdate(full, stateVectorOf90pc): the missing structs plus
// the whole delete set, which Yjs always sends whole).
async function scenarioRestart (server, n, keys, reps) {
  const room = 'restart-' + process.pid
  const have = n - Math.floor(n / 10)
  const t0 = performance.now()
  const src = buildSource(n, keys)
  const m = src.getMap('m')
  const srcSv = svMap(src)
  const pre = buildSource(have, keys)
  const preState = Y.encodeStateAsUpdate(pre)
  const preSv = Y.encodeStateVector(pre)
  const missingUpdate = Y.encodeStateAsUpdate(src, preSv)
  const missingBytes = missingUpdate.byteLength
  // Check: the prefix is the source's first 90 % (same ids and clocks).
  let missing = 0
  const pm = Y.decodeStateVector(preSv)
  for (const [c, clk] of srcSv) {
    const h = pm.get(c) || 0
    if (h > clk) throw new Error('restart: the 90 % doc is ahead of the source')
    missing += clk - h
  }
  if (missing !== n - have) throw new Error(`restart: the 90 % doc lacks ${missing} updates, expected ${n - have}`)
  { const chk = new Y.Doc(); Y.applyUpdate(chk, preState); Y.applyUpdate(chk, missingUpdate); if (!svEquals(svMap(chk), srcSv)) throw new Error('restart: 90 % + missing != source'); chk.destroy() }
  pre.destroy()
  const sp = connect(server.url, room, src)
  await waitFor(sp, 'synced')
  log(`restart n=${n} keys=${keys || 'distinct'}: source + 90 % built and pushed in ${round((performance.now() - t0) / 1000)} s; missing ${missing} updates = ${missingBytes} bytes`)

  const runs = []
  for (let rep = 0; rep <= reps; rep++) {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, preState) // loaded before the clock starts
    let done = null
    const finished = new Promise(resolve => {
      doc.on('update', () => {
        if (!done && svEquals(svMap(doc), srcSv)) { done = performance.now(); resolve() }
      })
    })
    const counter = { in: 0, out: 0, msgsIn: 0 }
    const c0 = performance.now()
    const p = new WebsocketProvider(server.url, room, doc, { WebSocketPolyfill: countingWebSocket(counter), disableBc: true })
    const timeout = sleep(120000).then(() => { throw new Error(`restart rep=${rep}: not caught up within 120 s`) })
    await Promise.race([finished, timeout])
    const seconds = (done - c0) / 1000
    // The bytes the server sends for this sync: step 1 + step 2 (+ the
    // source's awareness state) arrive at once; wait until synced and a short
    // quiet period so the count is complete (off the clock).
    await waitFor(p, 'synced')
    await sleep(100)
    const a = m.toJSON(); const b = doc.getMap('m').toJSON()
    const ka = Object.keys(a); const kb = Object.keys(b)
    if (ka.length !== kb.length || ka.some(k => a[k] !== b[k])) throw new Error(`restart rep=${rep}: map differs from the source`)
    p.destroy()
    doc.destroy()
    if (rep === 0) { log(`restart warm-up: ${round(seconds)} s, ${counter.in} bytes in`); continue }
    const r = { kind: 'run', scenario: 'restart', rep, n, keys, missing, seconds: round(seconds, 4), bytes_out: counter.in, missing_bytes: missingBytes, bytes_ratio: round(counter.in / missingBytes, 4), server_messages: counter.msgsIn, client_bytes_sent: counter.out, load: loadavg() }
    runs.push(r)
    out(r)
    await sleep(200)
  }
  sp.destroy()
  src.destroy()
  const s = { kind: 'summary', scenario: 'restart', n, missing, reps, median_seconds: round(median(runs.map(r => r.seconds)), 4), median_bytes_ratio: round(median(runs.map(r => r.bytes_ratio)), 4) }
  out(s)
  return s
}

// ----------------------------------------------------------------- footprint

// Resident memory per change of a Y.Doc holding the N updates: a child Node
// process (--expose-gc) reads the source's encoded state, then rss before and
// after applying it to a fresh Y.Doc (gc before each reading; the encoded
// bytes stay referenced across both readings). "disk": the encoded state's
// size per change; the stock y-websocket server has no persistence (the room
// lives in memory), so this is what a persisted state (e.g. y-leveldb's
// merged document) would at least take.
function footprintChild (file) {
  const gc = global.gc || (() => {})
  const state = new Uint8Array(readFileSync(file))
  gc(); gc()
  const before = process.memoryUsage()
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  gc(); gc()
  const after = process.memoryUsage()
  const changes = [...svMap(doc).values()].reduce((x, y) => x + y, 0)
  process.stdout.write(JSON.stringify({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed, changes, gc: !!global.gc, stateBytes: state.byteLength, keep: doc.getMap('m').size }) + '\n')
}

async function scenarioFootprint (n, keys) {
  const src = buildSource(n, keys)
  const state = Y.encodeStateAsUpdate(src)
  src.destroy()
  const dir = mkdtempSync(join(tmpdir(), 'yjs-footprint-'))
  const file = join(dir, 'state.bin')
  try {
    writeFileSync(file, state)
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], {
      env: { ...process.env, STARLING_BENCH_FOOTPRINT_FILE: file }, stdio: ['ignore', 'pipe', 'inherit']
    })
    let buf = ''
    child.stdout.on('data', d => { buf += d })
    const code = await new Promise(resolve => child.on('exit', resolve))
    if (code !== 0) throw new Error('footprint: the child failed with ' + code)
    const r = JSON.parse(buf.trim().split('\n').pop())
    if (r.changes !== n) throw new Error(`footprint: the child loaded ${r.changes} updates, expected ${n}`)
    log(`footprint n=${n}: rss +${r.rss} bytes, heapUsed +${r.heap} bytes, encoded state ${state.byteLength} bytes (gc ${r.gc ? 'on' : 'OFF'})`)
    const s = { kind: 'summary', scenario: 'footprint', n, keys, rss_bytes_per_change: round(r.rss / n, 1), heap_bytes_per_change: round(r.heap / n, 1), disk_bytes_per_change: round(state.byteLength / n, 1), state_bytes: state.byteLength, disk_note: 'no persistence in the stock y-websocket server: disk = encoded state (Y.encodeStateAsUpdate) per change, what a persisted state would take' }
    out(s)
    return s
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
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
    if (selected('restart')) await scenarioRestart(server, n, keys, reps)
    if (selected('footprint')) await scenarioFootprint(n, keys)
    if (selected('latency')) for (const p of peers) await scenarioLatency(server, p, writes, rate, reps, samplesDir)
    if (selected('throughput')) await scenarioThroughput(server, seconds, reps)
  } finally {
    server.stop()
  }
  out({ kind: 'end', load: loadavg() })
}

if (isMainThread && process.env.STARLING_BENCH_FOOTPRINT_FILE) {
  footprintChild(process.env.STARLING_BENCH_FOOTPRINT_FILE)
} else if (isMainThread) {
  main().then(() => process.exit(0), e => { log('FAILED: ' + (e && e.stack ? e.stack : e)); out({ kind: 'failed', error: String(e), load: loadavg() }); process.exit(1) })
} else if (workerData && workerData.role === 'writer') {
  throughputWriter(workerData).catch(e => { log('writer FAILED: ' + e.stack); process.exit(1) })
}
