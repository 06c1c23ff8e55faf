// The Yjs peer's live scenarios (latency star and line, throughput,
// throughput2, wire), its y-websocket server and clients; bench.mjs runs
// them (see the scenario list at its top). This file is also the entry
// point of the throughput writer workers and of the line relays.
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { WebsocketProvider } from 'y-websocket'
import WebSocket, { WebSocketServer } from 'ws'
import {
  sleep, loadavg, median, round, makeOut, makeLog, monoMs, freePort, indexedValue, indexOf, countingWebSocket,
  newCounter, snapCounter, diffCounter, settle, pacedWrites, warmWrites, latencyRun, latencySummary, runLine, relayMain
} from './common.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const self = fileURLToPath(import.meta.url)
const out = makeOut('yjs')
const log = makeLog('bench.mjs')

// ------------------------------------------------------------ server + clients

// The stock y-websocket 1.5.4 server (bin/server.js) in its own process.
export async function startServer () {
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

// A stock WebsocketProvider (BroadcastChannel disabled, so every update goes
// through the network); `counter` counts its WebSocket payload bytes.
export function connect (url, room, doc, counter) {
  return new WebsocketProvider(url, room, doc, { WebSocketPolyfill: counter ? countingWebSocket(counter) : WebSocket, disableBc: true })
}

export const waitFor = (provider, ev) => new Promise(resolve => {
  if (ev === 'synced' && provider.synced) return resolve()
  const f = (...a) => { provider.off(ev, f); resolve(a) }
  provider.on(ev, f)
})

// Serves one Y.Doc to WebSocket clients with the y-protocols sync messages,
// as y-websocket's bin/utils.js does (sync step 1 on connect, step 2 and
// updates relayed to every other connection; awareness messages ignored).
// Used for the line topology, where each node both dials and serves (the
// stock server.js only serves its own in-memory rooms; its utils.js loads
// the CommonJS build of yjs, a second Yjs instance next to this ESM one).
export async function serveDoc (doc) {
  const port = await freePort()
  const http = createServer((_, res) => { res.writeHead(200); res.end('okay') })
  const wss = new WebSocketServer({ server: http })
  const conns = new Set()
  const syncMsg = write => { const e = encoding.createEncoder(); encoding.writeVarUint(e, 0); write(e); return encoding.toUint8Array(e) }
  doc.on('update', (update, origin) => {
    const m = syncMsg(e => syncProtocol.writeUpdate(e, update))
    for (const c of conns) if (c !== origin && c.readyState === WebSocket.OPEN) c.send(m)
  })
  wss.on('connection', ws => {
    ws.binaryType = 'arraybuffer'
    conns.add(ws)
    ws.on('close', () => conns.delete(ws))
    ws.on('message', data => {
      const dec = decoding.createDecoder(new Uint8Array(data))
      if (decoding.readVarUint(dec) !== 0) return // awareness, auth: not relayed
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 0)
      syncProtocol.readSyncMessage(dec, e, doc, ws)
      if (encoding.length(e) > 1) ws.send(encoding.toUint8Array(e))
    })
    ws.send(syncMsg(e => syncProtocol.writeSyncStep1(e, doc)))
  })
  await new Promise(resolve => http.listen(port, '127.0.0.1', resolve))
  return { url: `ws://127.0.0.1:${port}`, port, close: () => { for (const c of conns) c.terminate(); wss.close(); http.close() } }
}

// ------------------------------------------------------------------- latency

// Star: one writer client and P peer clients in one room of the stock
// server (every update goes through the hub). Line: the writer's Y.Doc is
// served by serveDoc in this process; P relay processes (this file with
// STARLING_RELAY=1), relay k holding a Y.Doc that is a stock
// WebsocketProvider client of relay k-1 (relay 1: of the writer) and serves
// relay k+1 with serveDoc: each hop is one y-protocols client/server link,
// the faithful Yjs equivalent of a node dialing the previous one.
export async function scenarioLatency (server, topology, peers, writes, rate, reps, samplesDir) {
  const runs = []
  const warmN = 200
  for (let rep = 1; rep <= reps; rep++) {
    const room = `latency-${process.pid}-${topology}-${peers}-${rep}`
    const wdoc = new Y.Doc()
    const wm = wdoc.getMap('m')
    let lat, maxSlip
    if (topology === 'line') {
      const head = await serveDoc(wdoc)
      try {
        const res = await runLine({ script: self, peers, writes, rate, warm: warmN, headUrl: head.url, writeWarm: i => wm.set('warm', 'warm-' + i), write: i => wm.set('w' + (i % 100), indexedValue(i)) })
        lat = res.lat; maxSlip = res.maxSlip
      } finally { head.close() }
    } else {
      const wp = connect(server.url, room, wdoc)
      const sendAt = new Float64Array(writes).fill(-1)
      lat = Array.from({ length: peers }, () => new Array(writes).fill(-1))
      const got = new Array(peers).fill(0)
      const warm = new Array(peers).fill(0)
      const ps = []
      let wake = null
      for (let p = 0; p < peers; p++) {
        const doc = new Y.Doc()
        const ymap = doc.getMap('m')
        ymap.observe(ev => {
          const t = monoMs()
          for (const k of ev.keysChanged) {
            if (k === 'warm') { warm[p]++; continue }
            const i = indexOf(ymap.get(k))
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
      await warmWrites(warmN, rate, i => wm.set('warm', 'warm-' + i))
      await until(() => warm.every(w => w >= warmN), 60000, 'warm-up did not reach every peer')
      maxSlip = await pacedWrites(writes, rate, sendAt, i => wm.set('w' + (i % 100), indexedValue(i)))
      await until(() => got.every(g => g >= writes), 30000, `a peer got ${Math.min(...got)} of ${writes} writes`)
      for (const p of ps) { p.provider.destroy(); p.doc.destroy() }
      wp.destroy()
    }
    wdoc.destroy()
    const r = latencyRun({ system: 'yjs', samplesDir, topology, peers, rep, writes, rate, lat, maxSlip })
    runs.push(r)
    out(r)
    await sleep(200)
  }
  const s = latencySummary({ runs, topology, peers, reps, writes, rate })
  out(s)
  return s
}

// A relay of the line (a child process): a Y.Doc, client of the previous
// node, serving the next.
async function relay () {
  await relayMain(async (prevUrl, serve, onValue) => {
    const doc = new Y.Doc()
    const m = doc.getMap('m')
    m.observe(ev => { for (const k of ev.keysChanged) onValue(m.get(k)) })
    const srv = serve ? await serveDoc(doc) : null
    const p = connect(prevUrl, 'line', doc)
    await waitFor(p, 'synced')
    return { port: srv ? srv.port : 0 }
  })
}

// ---------------------------------------------------------------- throughput

// A writer (worker thread): writes in slices of 256 transactions (one
// update message each), yielding to the event loop between slices so the
// socket drains, and waiting while more than 4 MiB are queued unsent.
async function throughputWriter ({ url, room, seconds, tag }) {
  const doc = new Y.Doc()
  const p = connect(url, room, doc)
  await waitFor(p, 'synced')
  const m = doc.getMap('m')
  parentPort.postMessage({ ready: true })
  await new Promise(resolve => parentPort.once('message', resolve))
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  const times = [] // absolute ms at the end of each slice, with the count so far
  let i = 0
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++, i++) m.set(tag + (i % 64), indexedValue(i))
    times.push([performance.timeOrigin + performance.now(), i])
    while (p.ws && p.ws.bufferedAmount > (4 << 20) && performance.now() < end) await sleep(1)
    await new Promise(resolve => setImmediate(resolve))
  }
  const t1 = performance.now()
  while (p.ws && p.ws.bufferedAmount > 0) await sleep(1)
  parentPort.postMessage({ total: i, seconds: (t1 - t0) / 1000, startAbs: performance.timeOrigin + t0, stopAbs: performance.timeOrigin + t1, times })
  await new Promise(resolve => parentPort.once('message', resolve))
  p.destroy()
  doc.destroy()
  process.exit(0)
}

// Writes done (locally, handed to the socket) in [w0, w1) from the writer's
// slice times: Yjs has no acknowledgement, so this is the writer's rate.
const writesIn = (times, w0, w1) => {
  let before = 0; let upto = 0
  for (const [t, n] of times) { if (t < w0) before = n; if (t < w1) upto = n }
  return upto - before
}

// Throughput (one writer) and throughput2 (writers on two clients at once):
// writer workers, a reader client in this thread counting applied updates.
export async function scenarioThroughput (server, seconds, reps, writers = 1) {
  const scenario = writers === 1 ? 'throughput' : 'throughput2'
  const runs = []
  for (let rep = 1; rep <= reps; rep++) {
    const room = `${scenario}-${process.pid}-${rep}`
    const doc = new Y.Doc()
    const m = doc.getMap('m')
    const series = [] // absolute ms of each applied write (one per update)
    m.observe(() => series.push(performance.timeOrigin + performance.now()))
    const rp = connect(server.url, room, doc)
    await waitFor(rp, 'synced')
    const ws = []
    for (let w = 0; w < writers; w++) {
      const worker = new Worker(self, { workerData: { role: 'writer', url: server.url, room, seconds, tag: 'abcdefgh'[w] } })
      const msgs = []
      let notify = null
      worker.on('message', msg => { msgs.push(msg); if (notify) notify() })
      worker.on('error', e => { throw e })
      const next = async () => { while (!msgs.length) await new Promise(resolve => { notify = resolve }); return msgs.shift() }
      ws.push({ worker, next })
    }
    for (const w of ws) await w.next() // ready
    for (const w of ws) w.worker.postMessage('go')
    const res = []
    for (const w of ws) res.push(await w.next())
    const total = res.reduce((a, r) => a + r.total, 0)
    const deadline = performance.now() + 120000
    while (series.length < total) {
      if (performance.now() > deadline) throw new Error(`${scenario}: the reader got ${series.length} of ${total}`)
      await sleep(2)
    }
    const drained = series[series.length - 1]
    for (const w of ws) w.worker.postMessage('exit')
    const startAbs = Math.min(...res.map(r => r.startAbs))
    const stopAbs = Math.max(...res.map(r => r.stopAbs))
    const skip = Math.min(500, seconds * 1000 / 6)
    const w0 = startAbs + skip
    const w1 = startAbs + seconds * 1000
    const win = (w1 - w0) / 1000
    const inWindow = series.filter(t => t >= w0 && t < w1).length
    const common = { kind: 'run', scenario, rep, seconds: round(Math.max(...res.map(r => r.seconds)), 2), window_s: round(win, 2), total_writes: total, drain_after_stop_ms: round(Math.max(0, drained - stopAbs), 1), end_to_end_per_s: Math.round(total / ((drained - startAbs) / 1000)), load: loadavg() }
    let r
    if (writers === 1) {
      r = { ...common, peer_changes_per_s: Math.round(inWindow / win), writer_per_s: Math.round(res[0].total / res[0].seconds) }
    } else {
      const a = writesIn(res[0].times, w0, w1) / win; const b = writesIn(res[1].times, w0, w1) / win
      r = { ...common, writers, c_applied_per_s: Math.round(inWindow / win), a_acked_per_s: Math.round(a), b_acked_per_s: Math.round(b), acked_per_s: Math.round(a + b), acked_note: 'no acknowledgement in Yjs: writes/s handed to the socket by each writer' }
    }
    runs.push(r)
    out(r)
    rp.destroy()
    doc.destroy()
    await Promise.all(ws.map(w => new Promise(resolve => w.worker.once('exit', resolve))))
    await sleep(200)
  }
  const s = writers === 1
    ? { kind: 'summary', scenario, reps, seconds, median_peer_changes_per_s: Math.round(median(runs.map(r => r.peer_changes_per_s))), median_writer_per_s: Math.round(median(runs.map(r => r.writer_per_s))) }
    : { kind: 'summary', scenario, reps, seconds, median_c_applied_per_s: Math.round(median(runs.map(r => r.c_applied_per_s))), median_a_acked_per_s: Math.round(median(runs.map(r => r.a_acked_per_s))), median_b_acked_per_s: Math.round(median(runs.map(r => r.b_acked_per_s))) }
  out(s)
  return s
}

// ---------------------------------------------------------------------- wire

// Bytes on the wire per change, counted as WebSocket message payloads on
// the clients (what the server sends a client = what that client receives).
// (a) catch-up: the room holds the N-write source (pushed by a source client
// that stays connected); a fresh counting client B syncs: A->B = bytes B
// received / N, B->A = bytes B sent / N. (b) live: a writer client A and a
// reader client B in one room, 200 warm-up writes, then W writes paced at
// RATE/s: A->B = bytes B received / W (the server relays A's updates; also
// A's own sent bytes, writer_out), B->A = bytes B sent / W. Each reading once
// the counters are quiet. Awareness messages (sent on connect and renewed
// every 15 s by y-websocket) are counted as they occur.
export async function scenarioWire (server, src, n, writes, rate, reps) {
  const srcSv = Y.encodeStateVector(src)
  const room = 'wire-' + process.pid
  const sp = connect(server.url, room, src)
  await waitFor(sp, 'synced')
  const runs = []
  for (let rep = 1; rep <= reps; rep++) {
    // (a)
    const cb = newCounter()
    const doc = new Y.Doc()
    const p = connect(server.url, room, doc, cb)
    await waitFor(p, 'synced')
    const t0 = performance.now()
    while (Buffer.compare(Buffer.from(Y.encodeStateVector(doc)), Buffer.from(srcSv)) !== 0) {
      if (performance.now() - t0 > 60000 + n / 10) throw new Error('wire: B did not catch up')
      await sleep(5)
    }
    await settle([cb])
    p.destroy(); doc.destroy()
    // (b)
    const la = newCounter(); const lb = newCounter()
    const lroom = `wire-live-${process.pid}-${rep}`
    const adoc = new Y.Doc(); const bdoc = new Y.Doc()
    const am = adoc.getMap('m'); const bm = bdoc.getMap('m')
    let got = 0; let warm = 0
    bm.observe(ev => { for (const k of ev.keysChanged) { if (k === 'warm') warm++; else if (indexOf(bm.get(k)) >= 0) got++ } })
    const pa = connect(server.url, lroom, adoc, la); const pb = connect(server.url, lroom, bdoc, lb)
    await Promise.all([waitFor(pa, 'synced'), waitFor(pb, 'synced')])
    await warmWrites(200, rate, i => am.set('warm', 'warm-' + i))
    while (warm < 200) await sleep(5)
    await settle([la, lb])
    const a0 = snapCounter(la); const b0 = snapCounter(lb)
    await pacedWrites(writes, rate, null, i => am.set('w' + (i % 100), indexedValue(i)))
    const t1 = performance.now()
    while (got < writes) { if (performance.now() - t1 > 60000) throw new Error(`wire: B got ${got} of ${writes}`); await sleep(5) }
    await settle([la, lb])
    const da = diffCounter(la, a0); const db = diffCounter(lb, b0)
    pa.destroy(); pb.destroy(); adoc.destroy(); bdoc.destroy()
    const r = { kind: 'run', scenario: 'wire', rep, n, writes, rate, catchup_a_to_b_bytes_per_change: round(cb.in / n, 2), catchup_b_to_a_bytes_per_change: round(cb.out / n, 3), catchup_b_bytes_in: cb.in, catchup_b_bytes_out: cb.out, catchup_b_msgs_in: cb.msgsIn, live_a_to_b_bytes_per_change: round(db.in / writes, 2), live_b_to_a_bytes_per_change: round(db.out / writes, 2), live_writer_out_bytes_per_change: round(da.out / writes, 2), live_a_bytes_out: da.out, live_a_bytes_in: da.in, live_b_bytes_in: db.in, live_b_bytes_out: db.out, live_b_msgs_in: db.msgsIn, load: loadavg() }
    runs.push(r)
    out(r)
  }
  sp.destroy()
  const k = ['catchup_a_to_b_bytes_per_change', 'catchup_b_to_a_bytes_per_change', 'live_a_to_b_bytes_per_change', 'live_b_to_a_bytes_per_change']
  const s = { kind: 'summary', scenario: 'wire', n, writes, reps }
  for (const x of k) s['median_' + x] = round(median(runs.map(r => r[x])), 3)
  out(s)
  return s
}

if (!isMainThread && workerData && workerData.role === 'writer') {
  throughputWriter(workerData).catch(e => { log('writer FAILED: ' + e.stack); process.exit(1) })
} else if (isMainThread && process.env.STARLING_RELAY === '1' && process.argv[1] === self) {
  relay().catch(e => { log('relay FAILED: ' + (e && e.stack ? e.stack : e)); process.exit(1) })
}
