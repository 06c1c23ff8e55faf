// Helpers shared by the peers of bench/bench_sync.cpp: bench.mjs (Yjs) and
// automerge.mjs (Automerge). Env parsing, stats, JSON output, the paced
// writer loop, byte counting on WebSockets, and the line-topology harness
// (a chain of relay processes, each dialing the previous one).
import { fork } from 'node:child_process'
import { createServer } from 'node:net'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'

export const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? process.env[k] : d)
export const envInt = (k, d) => parseInt(env(k, String(d)), 10)
// The STARLING_BENCH_* settings every peer program reads (bench_sync's names).
export function benchSettings () {
  const only = env('STARLING_BENCH_ONLY', '')
  return {
    selected: what => !only || only.split(',').includes(what),
    reps: Math.max(1, envInt('STARLING_BENCH_REPS', 3)),
    n: envInt('STARLING_BENCH_N', 100000),
    keys: envInt('STARLING_BENCH_KEYS', 1000),
    writes: envInt('STARLING_BENCH_WRITES', 3000),
    rate: envInt('STARLING_BENCH_RATE', 1000),
    peers: env('STARLING_BENCH_PEERS', '8').split(',').filter(Boolean).map(Number),
    topologies: env('STARLING_BENCH_TOPOLOGY', 'star,line').split(',').filter(Boolean),
    seconds: Number(env('STARLING_BENCH_SECONDS', '3')),
    seconds2: Number(env('STARLING_BENCH_SECONDS2', env('STARLING_BENCH_SECONDS', '10'))),
    samplesDir: env('STARLING_BENCH_SAMPLES', '')
  }
}
export const makeLog = name => (...a) => process.stderr.write(name + ': ' + a.join(' ') + '\n')
export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
export const loadavg = () => { try { return readFileSync('/proc/loadavg', 'utf8').trim() } catch { return '?' } }
export const median = v => {
  if (!v.length) return 0
  const s = [...v].sort((a, b) => a - b)
  const n = s.length
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}
// Nearest-rank percentile of a sorted array, as bench_sync.
export const percentile = (sorted, p) => {
  if (!sorted.length) return 0
  const rank = Math.ceil(p * sorted.length)
  return sorted[Math.min(sorted.length - 1, rank === 0 ? 0 : rank - 1)]
}
export const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d
export const makeOut = system => obj => process.stdout.write(JSON.stringify({ system, ...obj }) + '\n')
// A monotonic clock in ms shared by every process on the machine
// (CLOCK_MONOTONIC via process.hrtime), for latencies across processes.
export const monoMs = () => Number(process.hrtime.bigint()) / 1e6

// "w0000000123-xxxx..." (40 bytes): the write's index, as bench_sync.
export const indexedValue = i => ('w' + String(i).padStart(10, '0') + '-').padEnd(40, 'x')
export const indexOf = v => (typeof v === 'string' && v[0] === 'w' ? parseInt(v.slice(1, 11), 10) : -1)

export const freePort = () => new Promise((resolve, reject) => {
  const s = createServer()
  s.unref()
  s.on('error', reject)
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
})

const size = data => Array.isArray(data) ? data.reduce((a, b) => a + size(b), 0) : (data.byteLength !== undefined ? data.byteLength : data.length)
// A ws WebSocket class that counts the payload bytes of the messages it
// receives and sends (WebSocket message payloads; framing not counted, as
// starling's bytes_in/bytes_out count its frames' payloads).
export function countingWebSocket (counter) {
  return class extends WebSocket {
    constructor (...a) {
      super(...a)
      this.on('message', data => { counter.in += size(data); counter.msgsIn++ })
    }

    send (data, ...rest) {
      counter.out += size(data)
      counter.msgsOut++
      return super.send(data, ...rest)
    }
  }
}
export const newCounter = () => ({ in: 0, out: 0, msgsIn: 0, msgsOut: 0 })
export const snapCounter = c => ({ ...c })
export const diffCounter = (b, a) => ({ in: b.in - a.in, out: b.out - a.out, msgsIn: b.msgsIn - a.msgsIn, msgsOut: b.msgsOut - a.msgsOut })
// Waits until the counter has not moved for `quiet` ms (at most `limit`).
export async function settle (counters, quiet = 200, limit = 10000) {
  const key = () => counters.map(c => `${c.in}/${c.out}`).join(',')
  const end = performance.now() + limit
  let last = key()
  for (;;) {
    await sleep(quiet)
    const k = key()
    if (k === last || performance.now() > end) return
    last = k
  }
}

// Calls write(i) for i in [0, writes) on a steady schedule of `rate`/s: a
// timer fires at most every ~1 ms, so each wake-up writes what is due and
// spins the last fraction of a ms. sendAt[i] = monoMs() right before the
// call. Returns the largest slip from the schedule (ms).
export async function pacedWrites (writes, rate, sendAt, write) {
  const period = 1000 / rate
  const start = performance.now() + 20
  let maxSlip = 0
  for (let i = 0; i < writes; i++) {
    const due = start + i * period
    let now = performance.now()
    if (due - now > 0.5) { await sleep(Math.max(0, due - now - 0.5)); now = performance.now() }
    while (now < due) now = performance.now()
    maxSlip = Math.max(maxSlip, now - due)
    if (sendAt) sendAt[i] = monoMs()
    write(i)
  }
  return maxSlip
}

// Warm-up: `count` writes paced at `rate`/s.
export async function warmWrites (count, rate, write) {
  const period = 1000 / rate
  const w0 = performance.now()
  for (let i = 0; i < count; i++) {
    const d = w0 + i * period - performance.now()
    if (d > 1) await sleep(d)
    write(i)
  }
}

// Latency statistics over per-peer arrays of latencies (ms, -1 = missing),
// peers in depth order for a line: pooled p50/p99/max, and for a line the
// per-hop latency (depth d minus depth d-1, per write) and p50/p99 per depth.
// One latency run's record, as bench_sync prints it; every sample goes to
// <samplesDir>/<system>_latency_<topology>_p<P>_rep<R>.txt when a directory is set.
export function latencyRun ({ system, samplesDir, topology, peers, rep, writes, rate, lat, maxSlip }) {
  const st = latencyStats(lat, topology === 'line')
  if (samplesDir) {
    mkdirSync(samplesDir, { recursive: true })
    writeFileSync(join(samplesDir, `${system}_latency_${topology}_p${peers}_rep${rep}.txt`), st.all.map(x => x.toFixed(4)).join('\n') + '\n')
  }
  delete st.all
  return { kind: 'run', scenario: 'latency', topology, peers, rep, writes, rate, samples: writes * peers, ...st, schedule_slip_max_ms: round(maxSlip), load: loadavg() }
}

export const latencySummary = ({ runs, topology, peers, reps, writes, rate }) => ({
  kind: 'summary', scenario: 'latency', topology, peers, reps, writes, rate,
  median_p50_ms: round(median(runs.map(r => r.p50_ms))),
  median_p99_ms: round(median(runs.map(r => r.p99_ms))),
  median_max_ms: round(median(runs.map(r => r.max_ms)))
})

export function latencyStats (lat, line) {
  const all = []
  for (const l of lat) for (const x of l) all.push(x)
  all.sort((a, b) => a - b)
  const r = { all, p50_ms: round(percentile(all, 0.5)), p99_ms: round(percentile(all, 0.99)), max_ms: round(all[all.length - 1]) }
  if (line) {
    const hops = []
    r.depth_p50_ms = []
    r.depth_p99_ms = []
    lat.forEach((l, d) => {
      const s = [...l].sort((a, b) => a - b)
      r.depth_p50_ms.push(round(percentile(s, 0.5)))
      r.depth_p99_ms.push(round(percentile(s, 0.99)))
      for (let i = 0; i < l.length; i++) hops.push(d === 0 ? l[i] : l[i] - lat[d - 1][i])
    })
    hops.sort((a, b) => a - b)
    r.hop_p50_ms = round(percentile(hops, 0.5))
    r.hop_p99_ms = round(percentile(hops, 0.99))
  }
  return r
}

// ------------------------------------------------------------ line topology

// The parent side: forks `peers` relay processes of `script` (with
// STARLING_RELAY=1), in order: relay 1 dials `headUrl` (the writer's
// server), relay k dials relay k-1's server; every relay but the last
// serves. Returns { lat (per relay, ms per write), relays } after the
// warm-up (`warm` writes via writeWarm) and `writes` paced writes via
// write(i) at `rate`/s; arrival times are taken in the relays on the shared
// monotonic clock.
export async function runLine ({ script, peers, writes, rate, warm, headUrl, writeWarm, write, extraEnv = {} }) {
  const relays = []
  const msg = (r, pred) => new Promise((resolve, reject) => {
    const f = m => { if (pred(m)) { r.child.off('message', f); resolve(m) } }
    r.child.on('message', f)
    r.child.once('exit', code => reject(new Error(`relay ${r.k} exited with ${code}`)))
  })
  try {
    let prev = headUrl
    for (let k = 1; k <= peers; k++) {
      const child = fork(script, [], {
        env: { ...process.env, ...extraEnv, STARLING_RELAY: '1', RELAY_PREV: prev, RELAY_SERVE: k < peers ? '1' : '0', RELAY_WRITES: String(writes), RELAY_WARM: String(warm) },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc']
      })
      const r = { k, child }
      relays.push(r)
      const ready = await msg(r, m => m.ready)
      prev = `ws://127.0.0.1:${ready.port}`
      r.warmDone = msg(r, m => m.warm)
      r.done = msg(r, m => m.done)
      r.warmDone.catch(() => {}) // awaited below; handled if a relay dies first
      r.done.catch(() => {})
    }
    const timeout = (ms, what) => sleep(ms).then(() => { throw new Error('line: ' + what) })
    await warmWrites(warm, rate, writeWarm)
    await Promise.race([Promise.all(relays.map(r => r.warmDone)), timeout(60000, 'the warm-up did not reach every relay')])
    const sendAt = new Float64Array(writes).fill(-1)
    const maxSlip = await pacedWrites(writes, rate, sendAt, write)
    await Promise.race([Promise.all(relays.map(r => r.done)), timeout(30000, `a relay did not get all ${writes} writes`)])
    const lat = []
    for (const r of relays) {
      const rep = msg(r, m => m.arrivals)
      r.child.send({ report: true })
      const arr = (await rep).arrivals
      lat.push(arr.map((t, i) => t - sendAt[i]))
    }
    return { lat, maxSlip }
  } finally {
    for (const r of relays.reverse()) { try { r.child.kill('SIGTERM') } catch {} }
  }
}

// The relay side: `setup(prevUrl, serve, onValue)` builds this relay's
// replica (dialing prevUrl, serving when `serve`) and calls onValue(v) for
// every value its map receives; it resolves to { port }.
export async function relayMain (setup) {
  const writes = envInt('RELAY_WRITES', 0)
  const warmN = envInt('RELAY_WARM', 0)
  const arrivals = new Array(writes).fill(-1)
  let got = 0; let warm = 0
  const onValue = v => {
    const i = indexOf(v)
    if (i >= 0 && i < writes) {
      if (arrivals[i] < 0) { arrivals[i] = monoMs(); if (++got === writes) process.send({ done: true }) }
    } else if (typeof v === 'string' && v.startsWith('warm-')) {
      if (++warm === warmN) process.send({ warm: true })
    }
  }
  process.on('disconnect', () => process.exit(0)) // ends with its parent
  const { port } = await setup(env('RELAY_PREV', ''), env('RELAY_SERVE', '0') === '1', onValue)
  process.on('message', m => { if (m.report) process.send({ arrivals }) })
  process.send({ ready: true, port })
}
