// Automerge peer of bench/bench_sync.cpp (@automerge/automerge 3.5.0): the
// same logical workloads as bench.mjs (Yjs), in the same JSON shape
// ("system":"automerge"). Network: Automerge's own sync protocol
// (generateSyncMessage / receiveSyncMessage, one SyncState per connection)
// over ws WebSockets, one binary message per sync message. The server is a
// separate process (this file, STARLING_AM_SERVER=1) holding one document per
// room in memory and relaying (after every received message, a sync message
// to every connection that needs one), as the stock y-websocket server does
// for Yjs. Why not automerge-repo (2.5.6, with its WebSocket adapter): its
// DocSynchronizer throttles sync messages with a hard-coded 100 ms
// syncDebounceRate (not a RepoConfig option), so live latency would measure
// that timer rather than the CRDT and its protocol.
//
//   catchup     the source: N writes, writer i%10 of 10 actors, each write one
//               Automerge change (a map put of a 40-byte value, key k<i % KEYS>,
//               value distinct per write: Automerge 3 drops a put of an
//               identical value as a no-op). Each actor's changes form their
//               own chain (the 10 actors write concurrently, merged), built
//               with the low-level API (the proxy API of Automerge.change
//               takes ~0.7 ms per change with a 1000-key map). Values are
//               scalar strings (ImmutableString, a register as in Yjs's
//               Y.Map.set and starling's set; a plain JS string would become
//               collaborative text in Automerge 3), here and in every live
//               scenario. The source
//               client pushes it to the room (rep 0 = warm-up, not counted);
//               per rep a fresh client connects; time until its heads equal
//               the source's; map contents compared.
//   restart     a client holding the first 90 % of the writes (Automerge.load
//               of their saved document, before the clock) reconnects; time
//               to catch up, and bytes the server sent over the encoded size
//               of the missing changes (sum of their change bytes).
//   footprint   a child process (--expose-gc) loads the saved document: rss
//               (and heap) after minus before, per change; "disk" =
//               Automerge.save() size per change (the compressed document
//               a storage adapter would keep).
//   wire        as bench.mjs: catch-up and live bytes per change, both
//               directions, counted on the clients.
//   latency     star: a writer client and P clients in one room of the
//               server; line: the writer's document served from this
//               process, P relay processes each a client of the previous and
//               a server for the next. Writes use the stock Automerge.change.
//               Latency from the write call to the patch on each peer (the
//               writer's changes form one chain, so write j applied implies
//               every earlier write applied: an index seen fills the ones
//               before it that the same message carried).
//   throughput  a writer (worker thread) writing Automerge.change in slices of
//               64 for S seconds; changes/s applied on a reader client.
//   throughput2 two writers (worker threads) at once, S2 seconds: changes/s
//               applied on the reader, writes/s of each writer (no
//               acknowledgement: the changes it made and synced).
//
// A scenario is skipped (a {"kind":"skipped"} line with the reason) when N
// exceeds STARLING_AM_MAX_N [1000000] for catchup, restart, footprint, wire.
// Live runs (latency, live wire size) make at most STARLING_AM_MAX_WRITES
// [500] writes, at the same rate.
// Environment: as bench.mjs (STARLING_BENCH_N, _KEYS, _REPS, _WRITES, _RATE,
// _PEERS, _TOPOLOGY, _SECONDS, _SECONDS2, _ONLY, _SAMPLES), samples to
// automerge_latency_<topology>_p<P>_rep<R>.txt.
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { writeFileSync, readFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import * as A from '@automerge/automerge'
import WebSocket, { WebSocketServer } from 'ws'
import {
  env, envInt, benchSettings, sleep, loadavg, median, round, makeOut, makeLog, monoMs, freePort, indexedValue, indexOf,
  countingWebSocket, newCounter, snapCounter, diffCounter, settle, pacedWrites, warmWrites, latencyRun, latencySummary, runLine,
  relayMain
} from './common.mjs'

const self = fileURLToPath(import.meta.url)
const out = makeOut('automerge')
const log = makeLog('automerge.mjs')

// ------------------------------------------------------------- sync peer

// One replica: a document and its sync connections. After any change (local
// or received) every connection gets a sync message if it needs one.
class Peer {
  constructor (doc = A.init()) {
    this.doc = doc
    this.conns = new Map() // ws -> SyncState
    this.onPatches = null // (patches, t) after a received message applied
    this.onReceive = null
  }

  attach (ws) {
    ws.binaryType = 'nodebuffer'
    this.conns.set(ws, A.initSyncState())
    ws.on('message', data => this.receive(ws, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)))
    ws.on('close', () => this.conns.delete(ws))
    const send = () => this.syncOne(ws)
    if (ws.readyState === WebSocket.OPEN) send(); else ws.once('open', send)
  }

  receive (ws, msg) {
    const st = this.conns.get(ws)
    if (!st) return
    const cb = this.onPatches
    const opts = cb ? { patchCallback: p => cb(p, monoMs()) } : undefined
    const [doc, st2] = A.receiveSyncMessage(this.doc, st, msg, opts)
    this.doc = doc
    this.conns.set(ws, st2)
    if (this.onReceive) this.onReceive()
    this.syncAll()
  }

  syncOne (ws) {
    if (ws.readyState !== WebSocket.OPEN) return
    const [st, m] = A.generateSyncMessage(this.doc, this.conns.get(ws))
    this.conns.set(ws, st)
    if (m) ws.send(m)
  }

  syncAll () { for (const ws of this.conns.keys()) this.syncOne(ws) }

  change (fn) { this.doc = A.change(this.doc, fn); this.syncAll() }
}

function connect (url, room, peer, counter) {
  const Ws = counter ? countingWebSocket(counter) : WebSocket
  const ws = new Ws(`${url}/${room}`)
  peer.attach(ws)
  return ws
}
const opened = ws => new Promise((resolve, reject) => { if (ws.readyState === WebSocket.OPEN) resolve(); else { ws.once('open', resolve); ws.once('error', reject) } })

// Serves peers: rooms (URL path) -> Peer, or one given Peer for every path.
async function serve (fixed) {
  const port = await freePort()
  const http = createServer((_, res) => { res.writeHead(200); res.end('okay') })
  const wss = new WebSocketServer({ server: http })
  const rooms = new Map()
  wss.on('connection', (ws, req) => {
    let p = fixed
    if (!p) { p = rooms.get(req.url); if (!p) rooms.set(req.url, p = new Peer()) }
    p.attach(ws)
  })
  await new Promise(resolve => http.listen(port, '127.0.0.1', resolve))
  return { url: `ws://127.0.0.1:${port}`, port, close: () => { for (const c of wss.clients) c.terminate(); wss.close(); http.close() } }
}

async function startServer () {
  const child = spawn(process.execPath, [self], { env: { ...process.env, STARLING_AM_SERVER: '1' }, stdio: ['pipe', 'pipe', 'inherit'] })
  const url = await new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', d => { buf += d; const m = buf.match(/listening (\S+)/); if (m) resolve(m[1]) })
    child.on('exit', code => reject(new Error('automerge server exited with ' + code)))
    setTimeout(() => reject(new Error('automerge server did not start')), 10000)
  })
  child.stdout.resume()
  return { url, stop: () => child.kill('SIGTERM') }
}

const sameHeads = (a, b) => { const x = A.getHeads(a).sort(); const y = [...b].sort(); return x.length === y.length && x.every((h, i) => h === y[i]) }
async function untilHeads (peer, heads, ms, what) {
  const t0 = performance.now()
  while (!sameHeads(peer.doc, heads)) {
    if (performance.now() - t0 > ms) throw new Error(what)
    await new Promise(resolve => { peer.onReceive = resolve; setTimeout(resolve, 20) })
    peer.onReceive = null
  }
  return performance.now()
}

// ------------------------------------------------------------- the source

// Writes [0, n) of the deterministic workload (see the top): one Automerge
// change each, actor i % 10, on the low-level document of each actor.
function buildSource (n, keys) {
  const base = A.change(A.init({ actor: '00' + '5b'.repeat(15) }), { time: 1700000000 }, d => { d.m = {} })
  const baseChanges = A.getAllChanges(base)
  const mId = A.getObjectId(base.m)
  const actors = Array.from({ length: 10 }, (_, a) => A.getBackend(A.applyChanges(A.init({ actor: (a + 1).toString(16).padStart(2, '0') + '5b'.repeat(15) }), baseChanges)[0]))
  for (let i = 0; i < n; i++) {
    const be = actors[i % 10]
    be.put(mId, 'k' + (keys ? i % keys : i), ('v' + i).padEnd(40, 'v'))
    be.commit(null, 1700000000 + Math.floor(i / 10))
  }
  let doc = A.init()
  ;[doc] = A.applyChanges(doc, baseChanges)
  for (const be of actors) [doc] = A.applyChanges(doc, be.getChanges(A.getHeads(base)))
  return doc
}
const numChanges = doc => A.stats(doc).numChanges

function sameMap (a, b) {
  const x = a.m || {}; const y = b.m || {}
  const kx = Object.keys(x); const ky = Object.keys(y)
  return kx.length === ky.length && kx.every(k => String(x[k]) === String(y[k]))
}

// ------------------------------------------------------------- catch-up, restart

async function scenarioCatchup (server, src, n, keys, reps) {
  const room = 'catchup-' + process.pid
  const heads = A.getHeads(src)
  const sws = connect(server.url, room, new Peer(A.clone(src)))
  const runs = []
  for (let rep = 0; rep <= reps; rep++) {
    const p = new Peer()
    const c = newCounter()
    const t0 = performance.now()
    const ws = connect(server.url, room, p, c)
    const t1 = await untilHeads(p, heads, 120000 + n, `catchup rep=${rep}: not caught up`)
    const seconds = (t1 - t0) / 1000
    if (!sameMap(src, p.doc)) throw new Error(`catchup rep=${rep}: map differs from the source`)
    ws.close()
    if (rep === 0) { log(`catchup warm-up (the server got the source): ${round(seconds)} s`); continue }
    const r = { kind: 'run', scenario: 'catchup', rep, n, keys, seconds: round(seconds, 4), changes_per_s: Math.round(n / seconds), bytes_in: c.in, messages_in: c.msgsIn, load: loadavg() }
    runs.push(r)
    out(r)
    await sleep(200)
  }
  sws.close()
  const s = { kind: 'summary', scenario: 'catchup', n, keys, reps, median_seconds: round(median(runs.map(r => r.seconds)), 4), median_changes_per_s: Math.round(median(runs.map(r => r.changes_per_s))) }
  out(s)
}

async function scenarioRestart (server, src, n, keys, reps) {
  const room = 'restart-' + process.pid
  const have = n - Math.floor(n / 10)
  const pre = buildSource(have, keys)
  if (!A.hasHeads(src, A.getHeads(pre))) throw new Error('restart: the 90 % document is not a prefix of the source')
  const missingChanges = A.getChanges(pre, src)
  const missing = missingChanges.length
  const missingBytes = missingChanges.reduce((a, c) => a + c.byteLength, 0)
  if (missing !== n - have) throw new Error(`restart: ${missing} changes missing, expected ${n - have}`)
  const preSaved = A.save(pre)
  const heads = A.getHeads(src)
  const sws = connect(server.url, room, new Peer(A.clone(src)))
  const runs = []
  for (let rep = 0; rep <= reps; rep++) {
    const p = new Peer(A.load(preSaved)) // loaded before the clock starts
    const c = newCounter()
    const t0 = performance.now()
    const ws = connect(server.url, room, p, c)
    const t1 = await untilHeads(p, heads, 120000, `restart rep=${rep}: not caught up`)
    await settle([c], 100)
    if (!sameMap(src, p.doc)) throw new Error(`restart rep=${rep}: map differs from the source`)
    ws.close()
    if (rep === 0) continue
    const r = { kind: 'run', scenario: 'restart', rep, n, keys, missing, seconds: round((t1 - t0) / 1000, 4), bytes_out: c.in, missing_bytes: missingBytes, bytes_ratio: round(c.in / missingBytes, 4), server_messages: c.msgsIn, client_bytes_sent: c.out, load: loadavg() }
    runs.push(r)
    out(r)
    await sleep(200)
  }
  sws.close()
  out({ kind: 'summary', scenario: 'restart', n, missing, reps, median_seconds: round(median(runs.map(r => r.seconds)), 4), median_bytes_ratio: round(median(runs.map(r => r.bytes_ratio)), 4) })
}

function footprintChild (file) {
  const gc = global.gc || (() => {})
  const saved = new Uint8Array(readFileSync(file))
  gc(); gc()
  const before = process.memoryUsage()
  const doc = A.load(saved)
  gc(); gc()
  const after = process.memoryUsage()
  process.stdout.write(JSON.stringify({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed, changes: numChanges(doc), gc: !!global.gc }) + '\n')
}

async function scenarioFootprint (src, n, keys) {
  const saved = A.save(src)
  const dir = mkdtempSync(join(tmpdir(), 'automerge-footprint-'))
  const file = join(dir, 'doc.automerge')
  try {
    writeFileSync(file, saved)
    const child = spawn(process.execPath, ['--expose-gc', self], { env: { ...process.env, STARLING_BENCH_FOOTPRINT_FILE: file }, stdio: ['ignore', 'pipe', 'inherit'] })
    let buf = ''
    child.stdout.on('data', d => { buf += d })
    const code = await new Promise(resolve => child.on('exit', resolve))
    if (code !== 0) throw new Error('footprint: the child failed with ' + code)
    const r = JSON.parse(buf.trim().split('\n').pop())
    if (r.changes !== n + 1) throw new Error(`footprint: the child loaded ${r.changes} changes, expected ${n + 1}`)
    out({ kind: 'summary', scenario: 'footprint', n, keys, rss_bytes_per_change: round(r.rss / n, 1), heap_bytes_per_change: round(r.heap / n, 1), disk_bytes_per_change: round(saved.byteLength / n, 1), state_bytes: saved.byteLength, disk_note: 'disk = Automerge.save() size per change (compressed document, what a storage adapter keeps); rss includes the wasm heap' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ------------------------------------------------------------- wire

async function scenarioWire (server, src, n, writes, rate, reps) {
  const room = 'wire-' + process.pid
  const heads = A.getHeads(src)
  const sws = connect(server.url, room, new Peer(A.clone(src)))
  const runs = []
  for (let rep = 1; rep <= reps; rep++) {
    const cb = newCounter()
    const p = new Peer()
    const ws = connect(server.url, room, p, cb)
    await untilHeads(p, heads, 120000 + n, 'wire: B did not catch up')
    await settle([cb])
    ws.close()
    const la = newCounter(); const lb = newCounter()
    const lroom = `wire-live-${process.pid}-${rep}`
    const pa = new Peer(); const pb = new Peer()
    const wa = connect(server.url, lroom, pa, la); const wb = connect(server.url, lroom, pb, lb)
    await Promise.all([opened(wa), opened(wb)])
    pa.change(d => { d.m = {} })
    await untilHeads(pb, A.getHeads(pa.doc), 10000, 'wire: the live room did not sync')
    await warmWrites(200, rate, i => pa.change(d => { d.m.warm = new A.ImmutableString('warm-' + i) }))
    await untilHeads(pb, A.getHeads(pa.doc), 60000, 'wire: the warm-up did not reach B')
    await settle([la, lb])
    const a0 = snapCounter(la); const b0 = snapCounter(lb)
    await pacedWrites(writes, rate, null, i => pa.change(d => { d.m['w' + (i % 100)] = new A.ImmutableString(indexedValue(i)) }))
    await untilHeads(pb, A.getHeads(pa.doc), 60000 + writes * 100, 'wire: B did not get the writes')
    await settle([la, lb])
    const da = diffCounter(la, a0); const db = diffCounter(lb, b0)
    wa.close(); wb.close()
    const r = { kind: 'run', scenario: 'wire', rep, n, writes, rate, catchup_a_to_b_bytes_per_change: round(cb.in / n, 2), catchup_b_to_a_bytes_per_change: round(cb.out / n, 3), catchup_b_bytes_in: cb.in, catchup_b_bytes_out: cb.out, catchup_b_msgs_in: cb.msgsIn, live_a_to_b_bytes_per_change: round(db.in / writes, 2), live_b_to_a_bytes_per_change: round(db.out / writes, 2), live_writer_out_bytes_per_change: round(da.out / writes, 2), live_a_bytes_out: da.out, live_a_bytes_in: da.in, live_b_bytes_in: db.in, live_b_bytes_out: db.out, live_b_msgs_in: db.msgsIn, load: loadavg() }
    runs.push(r)
    out(r)
  }
  sws.close()
  const s = { kind: 'summary', scenario: 'wire', n, writes, reps }
  for (const x of ['catchup_a_to_b_bytes_per_change', 'catchup_b_to_a_bytes_per_change', 'live_a_to_b_bytes_per_change', 'live_b_to_a_bytes_per_change']) s['median_' + x] = round(median(runs.map(r => r[x])), 3)
  out(s)
}

// ------------------------------------------------------------- latency

// Records arrivals of indexed writes from patches (see the top: an index
// seen fills the earlier ones not yet seen) and warm-up values.
function arrivals (writes, onIndex, onWarm) {
  let maxSeen = -1
  return (patches, t) => {
    let top = -1
    for (const p of patches) {
      if (p.action !== 'put' || p.path[0] !== 'm' || p.path.length !== 2) continue
      if (p.path[1] === 'warm') { onWarm(String(p.value)); continue }
      const i = indexOf(String(p.value))
      if (i > top && i < writes) top = i
    }
    for (let i = maxSeen + 1; i <= top; i++) onIndex(i, t)
    if (top > maxSeen) maxSeen = top
  }
}

async function scenarioLatency (server, topology, peers, writes, rate, reps, samplesDir) {
  const runs = []
  const warmN = 200
  for (let rep = 1; rep <= reps; rep++) {
    const room = `latency-${process.pid}-${topology}-${peers}-${rep}`
    const w = new Peer()
    w.change(d => { d.m = {} })
    const writeWarm = i => w.change(d => { d.m.warm = new A.ImmutableString('warm-' + i) })
    let lat, maxSlip
    if (topology === 'line') {
      const head = await serve(w)
      try {
        const res = await runLine({ script: self, peers, writes, rate, warm: warmN, headUrl: head.url, writeWarm, write: i => w.change(d => { d.m['w' + (i % 100)] = new A.ImmutableString(indexedValue(i)) }) })
        lat = res.lat; maxSlip = res.maxSlip
      } finally { head.close() }
    } else {
      const sendAt = new Float64Array(writes).fill(-1)
      lat = Array.from({ length: peers }, () => new Array(writes).fill(-1))
      const got = new Array(peers).fill(0); const warm = new Array(peers).fill(0)
      const wws = connect(server.url, room, w)
      const ps = []
      for (let p = 0; p < peers; p++) {
        const peer = new Peer()
        peer.onPatches = arrivals(writes, (i, t) => { if (lat[p][i] < 0) { lat[p][i] = t - sendAt[i]; got[p]++ } }, () => warm[p]++)
        ps.push(connect(server.url, room, peer))
      }
      const until = async (cond, ms, what) => { const d = performance.now() + ms; while (!cond()) { if (performance.now() > d) throw new Error('latency: ' + what); await sleep(2) } }
      await warmWrites(warmN, rate, writeWarm)
      await until(() => warm.every(x => x >= 1) && ps.every((_, p) => true), 60000, 'warm-up did not reach every peer')
      await sleep(300) // the warm-up's last messages through
      maxSlip = await pacedWrites(writes, rate, sendAt, i => w.change(d => { d.m['w' + (i % 100)] = new A.ImmutableString(indexedValue(i)) }))
      await until(() => got.every(g => g >= writes), 30000 + writes * 100, `a peer got ${Math.min(...got)} of ${writes} writes`)
      for (const ws of ps) ws.close()
      wws.close()
    }
    const r = latencyRun({ system: 'automerge', samplesDir, topology, peers, rep, writes, rate, lat, maxSlip })
    runs.push(r)
    out(r)
    await sleep(200)
  }
  out(latencySummary({ runs, topology, peers, reps, writes, rate }))
}

// A relay of the line: a document, client of the previous node, serving the
// next (the warm-up values are counted once each: they all differ).
async function relay () {
  await relayMain(async (prevUrl, doServe, onValue) => {
    const p = new Peer()
    p.onPatches = patches => { for (const x of patches) if (x.action === 'put' && x.path[0] === 'm' && x.path.length === 2) onValue(String(x.value)) }
    const srv = doServe ? await serve(p) : null
    await opened(connect(prevUrl, 'line', p))
    return { port: srv ? srv.port : 0 }
  })
}

// ------------------------------------------------------------- throughput

async function throughputWriter ({ url, room, seconds, tag }) {
  const p = new Peer()
  await opened(connect(url, room, p))
  parentPort.postMessage({ ready: true })
  await new Promise(resolve => parentPort.once('message', resolve))
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  const times = []
  let i = 0
  const ws = [...p.conns.keys()][0]
  while (performance.now() < end) {
    for (let k = 0; k < 64; k++, i++) p.doc = A.change(p.doc, d => { d[tag + (i % 64)] = new A.ImmutableString(indexedValue(i)) })
    p.syncAll()
    times.push([performance.timeOrigin + performance.now(), i])
    while (ws.bufferedAmount > (4 << 20) && performance.now() < end) await sleep(1)
    await new Promise(resolve => setImmediate(resolve))
  }
  const t1 = performance.now()
  parentPort.postMessage({ total: i, seconds: (t1 - t0) / 1000, startAbs: performance.timeOrigin + t0, stopAbs: performance.timeOrigin + t1, times })
  await new Promise(resolve => parentPort.once('message', resolve))
  ws.close()
  process.exit(0)
}

const writesIn = (times, w0, w1) => { let before = 0; let upto = 0; for (const [t, n] of times) { if (t < w0) before = n; if (t < w1) upto = n } return upto - before }

async function scenarioThroughput (server, seconds, reps, writers) {
  const scenario = writers === 1 ? 'throughput' : 'throughput2'
  const runs = []
  for (let rep = 1; rep <= reps; rep++) {
    const room = `${scenario}-${process.pid}-${rep}`
    const reader = new Peer()
    const series = [] // [absolute ms, changes applied so far]
    let base = null
    reader.onReceive = () => { const c = numChanges(reader.doc); if (base === null) base = 0; series.push([performance.timeOrigin + performance.now(), c]) }
    const rws = connect(server.url, room, reader)
    await opened(rws)
    const ws = []
    for (let k = 0; k < writers; k++) {
      const worker = new Worker(self, { workerData: { role: 'writer', url: server.url, room, seconds, tag: 'abcdefgh'[k] } })
      const msgs = []; let notify = null
      worker.on('message', m => { msgs.push(m); if (notify) notify() })
      worker.on('error', e => { throw e })
      ws.push({ worker, next: async () => { while (!msgs.length) await new Promise(resolve => { notify = resolve }); return msgs.shift() } })
    }
    for (const w of ws) await w.next()
    const c0 = numChanges(reader.doc)
    for (const w of ws) w.worker.postMessage('go')
    const res = []
    for (const w of ws) res.push(await w.next())
    const total = res.reduce((a, r) => a + r.total, 0)
    const deadline = performance.now() + 120000
    while (numChanges(reader.doc) - c0 < total) {
      if (performance.now() > deadline) throw new Error(`${scenario}: the reader got ${numChanges(reader.doc) - c0} of ${total}`)
      await sleep(5)
    }
    const drained = series[series.length - 1][0]
    for (const w of ws) w.worker.postMessage('exit')
    const startAbs = Math.min(...res.map(r => r.startAbs)); const stopAbs = Math.max(...res.map(r => r.stopAbs))
    const skip = Math.min(500, seconds * 1000 / 6)
    const w0 = startAbs + skip; const w1 = startAbs + seconds * 1000; const win = (w1 - w0) / 1000
    const at = t => { let c = c0; for (const [x, n] of series) { if (x <= t) c = n; else break } return c }
    const applied = (at(w1) - at(w0)) / win
    const common = { kind: 'run', scenario, rep, seconds: round(Math.max(...res.map(r => r.seconds)), 2), window_s: round(win, 2), total_writes: total, drain_after_stop_ms: round(Math.max(0, drained - stopAbs), 1), end_to_end_per_s: Math.round(total / ((drained - startAbs) / 1000)), load: loadavg() }
    let r
    if (writers === 1) r = { ...common, peer_changes_per_s: Math.round(applied), writer_per_s: Math.round(res[0].total / res[0].seconds) }
    else {
      const a = writesIn(res[0].times, w0, w1) / win; const b = writesIn(res[1].times, w0, w1) / win
      r = { ...common, writers, c_applied_per_s: Math.round(applied), a_acked_per_s: Math.round(a), b_acked_per_s: Math.round(b), acked_per_s: Math.round(a + b), acked_note: 'no acknowledgement: changes/s made and synced by each writer' }
    }
    runs.push(r)
    out(r)
    rws.close()
    await Promise.all(ws.map(w => new Promise(resolve => w.worker.once('exit', resolve))))
    await sleep(200)
  }
  out(writers === 1
    ? { kind: 'summary', scenario, reps, seconds, median_peer_changes_per_s: Math.round(median(runs.map(r => r.peer_changes_per_s))) }
    : { kind: 'summary', scenario, reps, seconds, median_c_applied_per_s: Math.round(median(runs.map(r => r.c_applied_per_s))), median_a_acked_per_s: Math.round(median(runs.map(r => r.a_acked_per_s))), median_b_acked_per_s: Math.round(median(runs.map(r => r.b_acked_per_s))) })
}

// ------------------------------------------------------------- main

async function main () {
  const { selected, reps, n, keys, rate, peers, topologies, seconds, seconds2, samplesDir } = benchSettings()
  // Live runs: Automerge does not keep up with 1k writes/s here (its queue
  // grows for the whole run), so its runs stop at STARLING_AM_MAX_WRITES
  // writes (the rate stays); the output says how many it made.
  const writes = Math.min(benchSettings().writes, envInt('STARLING_AM_MAX_WRITES', 500))
  const maxN = envInt('STARLING_AM_MAX_N', 1000000)
  const version = JSON.parse(readFileSync(new URL('./node_modules/@automerge/automerge/package.json', import.meta.url), 'utf8')).version
  out({ kind: 'start', node: process.version, versions: { '@automerge/automerge': version }, load: loadavg(), n, keys, reps, writes, rate, peers, topologies, seconds, seconds2 })
  const server = await startServer()
  try {
    let src = null
    const source = () => {
      if (!src) {
        const t0 = performance.now()
        src = buildSource(n, keys)
        log(`source n=${n} keys=${keys || 'distinct'} built in ${round((performance.now() - t0) / 1000)} s`)
      }
      return src
    }
    for (const scen of ['catchup', 'restart', 'footprint', 'wire']) {
      if (!selected(scen)) continue
      if (n > maxN) { out({ kind: 'skipped', scenario: scen, n, reason: `N=${n} > STARLING_AM_MAX_N=${maxN}` }); continue }
      if (scen === 'catchup') await scenarioCatchup(server, source(), n, keys, reps)
      if (scen === 'restart') await scenarioRestart(server, source(), n, keys, reps)
      if (scen === 'footprint') await scenarioFootprint(source(), n, keys)
      if (scen === 'wire') await scenarioWire(server, source(), n, writes, rate, reps)
    }
    if (selected('latency')) for (const t of topologies) for (const p of peers) await scenarioLatency(server, t, p, writes, rate, reps, samplesDir)
    if (selected('throughput')) await scenarioThroughput(server, seconds, reps, 1)
    if (selected('throughput2')) await scenarioThroughput(server, seconds2, reps, 2)
  } finally {
    server.stop()
  }
  out({ kind: 'end', load: loadavg() })
}

if (!isMainThread && workerData && workerData.role === 'writer') {
  throughputWriter(workerData).catch(e => { log('writer FAILED: ' + e.stack); process.exit(1) })
} else if (process.env.STARLING_AM_SERVER === '1') {
  // Ends with its parent: stdin is a pipe from it.
  process.stdin.on('end', () => process.exit(0)).resume()
  serve().then(s => process.stdout.write(`listening ${s.url}\n`))
} else if (process.env.STARLING_RELAY === '1') {
  relay().catch(e => { log('relay FAILED: ' + (e && e.stack ? e.stack : e)); process.exit(1) })
} else if (process.env.STARLING_BENCH_FOOTPRINT_FILE) {
  footprintChild(process.env.STARLING_BENCH_FOOTPRINT_FILE)
} else {
  process.on('uncaughtException', e => { log('FAILED: ' + (e && e.stack ? e.stack : e)); out({ kind: 'failed', error: String(e), load: loadavg() }); process.exit(1) })
  main().then(() => process.exit(0), e => { log('FAILED: ' + (e && e.stack ? e.stack : e)); out({ kind: 'failed', error: String(e), load: loadavg() }); process.exit(1) })
}
