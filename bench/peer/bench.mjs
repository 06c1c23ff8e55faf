// Yjs peer of bench/bench_sync.cpp: the same logical workloads, run against a
// real y-websocket server process (node_modules/y-websocket/bin/server.js,
// the stock server of y-websocket 1.5.4) on loopback. Clients are stock
// WebsocketProvider instances (BroadcastChannel disabled, so every update
// goes through the server) in this process; the throughput writers run in
// worker threads so that writing and applying do not share one event loop.
// Files: bench.mjs (this: catchup, restart, footprint, main), yjs_live.mjs
// (server, clients, latency, throughput, throughput2, wire, line relays),
// common.mjs (helpers shared with automerge.mjs).
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
//   wire        bytes on the wire per change, both directions, counted as
//               WebSocket message payloads on the clients: (a) a fresh client
//               catches up the N-write room: A->B = bytes it received / N,
//               B->A = bytes it sent / N; (b) live: W writes paced at RATE/s
//               by a writer client to a reader client through the server:
//               A->B = bytes the reader received / W, B->A = bytes it sent / W
//               (and the writer's own bytes sent per write).
//   latency     W paced writes at RATE/s after 200 warm-up writes; latency =
//               from the write call to the peer's map observer seeing that
//               write (process.hrtime, one monotonic clock for every
//               process), over all peers. star: one writer and P peers in one
//               room of the stock server (every update through the hub).
//               line: the writer's Y.Doc served (y-protocols sync) from this
//               process; P relay processes in a chain, relay k a Y.Doc that
//               is a WebsocketProvider client of relay k-1 and serves relay
//               k+1; also per-hop and per-depth latency.
//   throughput  a writer (worker thread) writes as fast as it goes for S
//               seconds (bounded by the socket's send buffer); applied
//               updates/s on another client over the steady window (the
//               first min(0.5 s, S/6) skipped), as bench_sync.
//   throughput2 two writer clients (worker threads) at once, S2 seconds, a
//               third client reading: applied updates/s on the reader and
//               each writer's writes/s (Yjs has no acknowledgement: the
//               writes handed to its socket) over the steady window.
//
// Output: one JSON object per run and per scenario summary on stdout
// ("kind":"run" | "summary"); progress on stderr.
//
// Environment (defaults in brackets; the names of bench_sync where they mean
// the same):
//   STARLING_BENCH_N         catch-up writes [100000]
//   STARLING_BENCH_KEYS      catch-up key space, 0 = every write a new key [1000]
//   STARLING_BENCH_REPS      repetitions [3]
//   STARLING_BENCH_WRITES    latency, wire: writes per run [3000]
//   STARLING_BENCH_RATE      latency, wire: writes per second [1000]
//   STARLING_BENCH_PEERS     latency: peer counts [8]
//   STARLING_BENCH_TOPOLOGY  latency: star,line or one of them [star,line]
//   STARLING_BENCH_SECONDS   throughput: seconds of writing [3]
//   STARLING_BENCH_SECONDS2  throughput2: seconds [STARLING_BENCH_SECONDS if
//                            set, else 10]
//   STARLING_BENCH_ONLY      comma list of catchup,restart,footprint,wire,
//                            latency,throughput,throughput2 [all]
//   STARLING_BENCH_SAMPLES   latency: a directory to write every sample to
//                            (yjs_latency_<topology>_p<P>_rep<R>.txt, ms) []
//   YPERSISTENCE             passed to the server (y-leveldb needed; unset here)
import { spawn } from 'node:child_process'
import { writeFileSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { isMainThread } from 'node:worker_threads'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { env, envInt, benchSettings, sleep, loadavg, median, round, makeOut, makeLog, countingWebSocket } from './common.mjs'
import { startServer, connect, waitFor, scenarioLatency, scenarioThroughput, scenarioWire } from './yjs_live.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const log = makeLog('bench.mjs')
const out = makeOut('yjs')

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

// ---------------------------------------------------------------------- main

async function main () {
  const { selected, reps, n, keys, writes, rate, peers, topologies, seconds, seconds2, samplesDir } = benchSettings()
  const versions = {}
  for (const p of ['yjs', 'y-websocket', 'y-protocols', 'ws']) {
    versions[p] = JSON.parse(readFileSync(join(here, 'node_modules', p, 'package.json'), 'utf8')).version
  }
  out({ kind: 'start', node: process.version, versions, persistence: process.env.YPERSISTENCE || null, load: loadavg(), n, keys, reps, writes, rate, peers, topologies, seconds, seconds2 })
  const server = await startServer()
  try {
    if (selected('catchup')) await scenarioCatchup(server, n, keys, reps)
    if (selected('restart')) await scenarioRestart(server, n, keys, reps)
    if (selected('footprint')) await scenarioFootprint(n, keys)
    if (selected('wire')) { const src = buildSource(n, keys); await scenarioWire(server, src, n, writes, rate, reps); src.destroy() }
    if (selected('latency')) for (const t of topologies) for (const p of peers) await scenarioLatency(server, t, p, writes, rate, reps, samplesDir)
    if (selected('throughput')) await scenarioThroughput(server, seconds, reps, 1)
    if (selected('throughput2')) await scenarioThroughput(server, seconds2, reps, 2)
  } finally {
    server.stop()
  }
  out({ kind: 'end', load: loadavg() })
}

if (isMainThread && process.env.STARLING_BENCH_FOOTPRINT_FILE) {
  footprintChild(process.env.STARLING_BENCH_FOOTPRINT_FILE)
} else if (isMainThread) {
  main().then(() => process.exit(0), e => { log('FAILED: ' + (e && e.stack ? e.stack : e)); out({ kind: 'failed', error: String(e), load: loadavg() }); process.exit(1) })
}
