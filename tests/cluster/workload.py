"""The write workload and the final checker.

Writes. Every write is one change: it sets a key that no other write uses,
`/w/<node>-<n>` = n, and increments `/count` by 1. A setup change made by the
first node before any write creates `/w` (an empty map) and `/count` = 0 and
is replicated everywhere before the writers start, so that every write
names the same map and the same counter. (Two nodes that each created `/w`
concurrently would hold two different maps, and last-writer-wins would hide
one of them: that would be the CRDT's semantics, not a lost write.)

Each write's outcome is recorded in the ledger:
    acked    HTTP 200: committed on that node (durability sync: on disk)
    failed   never delivered (connection refused) or refused by the node
             (HTTP 4xx): it must appear nowhere
    unknown  timeout, reset after sending, or HTTP 5xx: it may or may not
             appear

The checker (after every fault is healed and the writers have stopped) waits
until all nodes report the same digest, frontier and no pending changes for
the document, then asserts on every node:
    every acknowledged write is present with its value;
    no key appears that was never issued, or whose write failed;
    /count equals the number of keys (a change applied twice, or a key
    written twice, would break this), and the number of changes equals the
    number of keys plus the setup change;
    every node's document is the same JSON, with the same digest;
    no fork proof (an equivocation would mean a node re-signed a seq).
It reports the time from the last heal (or the writers' stop, whichever
came later) to convergence.
"""

import threading
import time

from cluster import DOC, ClusterError, Refused, Unknown

ACKED, FAILED, UNKNOWN = "acked", "failed", "unknown"


class Ledger:
    def __init__(self):
        self._lock = threading.Lock()
        self.writes = {}           # key -> dict(node, n, outcome, t, detail)

    def record(self, key, node, n, outcome, detail=""):
        with self._lock:
            self.writes[key] = {"node": node, "n": n, "outcome": outcome, "t": time.monotonic(), "detail": detail}

    def keys(self, outcome=None, node=None, before=None, after=None):
        """Keys of the writes with this outcome, to this node, whose outcome
        was known between `after` and `before` (time.monotonic())."""
        with self._lock:
            return [k for k, w in self.writes.items()
                    if (outcome is None or w["outcome"] == outcome)
                    and (node is None or w["node"] == node)
                    and (before is None or w["t"] <= before)
                    and (after is None or w["t"] >= after)]

    def counts(self):
        c = {ACKED: 0, FAILED: 0, UNKNOWN: 0}
        with self._lock:
            for w in self.writes.values():
                c[w["outcome"]] += 1
        return c


class Counter:
    """The write numbers of one node (shared by its writer threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.n = 0

    def next(self):
        with self._lock:
            self.n += 1
            return self.n


class Writer(threading.Thread):
    """Writes to one node, one change every `interval` seconds, until stopped."""

    def __init__(self, cluster, ledger, name, counter, interval, index=0, timeout=3.0):
        super().__init__(name="writer-%s-%d" % (name, index), daemon=True)
        self.cluster, self.ledger, self.node_name = cluster, ledger, name
        self.counter = counter
        self.interval, self.timeout = interval, timeout
        self.stopping = threading.Event()

    def run(self):
        node = self.cluster.node(self.node_name)
        while not self.stopping.is_set():
            n = self.counter.next()
            key = "%s-%d" % (self.node_name, n)
            muts = [{"op": "set", "path": "/w/" + key, "value": n},
                    {"op": "inc", "path": "/count", "value": 1}]
            try:
                status, body = node.write(muts, timeout=self.timeout)
                if status == 200 and isinstance(body, dict) and body.get("hash"):
                    self.ledger.record(key, self.node_name, n, ACKED)
                elif 400 <= status < 500:
                    self.ledger.record(key, self.node_name, n, FAILED, "HTTP %d %s" % (status, body))
                else:
                    self.ledger.record(key, self.node_name, n, UNKNOWN, "HTTP %d %s" % (status, body))
            except Refused as e:
                self.ledger.record(key, self.node_name, n, FAILED, str(e))
            except Unknown as e:
                self.ledger.record(key, self.node_name, n, UNKNOWN, str(e))
            self.stopping.wait(self.interval)


class Workload:
    def __init__(self, cluster):
        self.cluster = cluster
        self.ledger = Ledger()
        self.writers = []                 # Writer threads, running or stopped
        self.counters = {}                # node name -> Counter
        self.stopped_at = None
        self.setup_changes = 0

    def setup(self, via="n1"):
        """The setup change (/w = {}, /count = 0), replicated to every running node."""
        c = self.cluster
        st, body = c.node(via).write([{"op": "set", "path": "/w", "value": {}},
                                      {"op": "set", "path": "/count", "value": 0}])
        if st != 200:
            raise ClusterError("setup write on %s answered %d: %s" % (via, st, body))
        self.setup_changes = 1
        self.wait_doc_everywhere()

    def wait_doc_everywhere(self, names=None):
        c = self.cluster
        names = names or [n for n, node in c.nodes.items() if node.running()]

        def has_setup(name):
            r = c.node(name).read(pointer="/w", timeout=2)
            return r is not None
        took = c.wait_until(lambda: all(has_setup(n) for n in names),
                            "the setup change (/w) is on %s" % ",".join(names), timeout=30)
        c.event("setup change on %s (%.2f s)" % (",".join(names), took))

    def start(self, names=None, interval=0.05, threads=1):
        """`threads` writer threads per node, each writing one change, then
        waiting `interval` s, until stop()."""
        names = names or list(self.cluster.nodes)
        for name in names:
            counter = self.counters.setdefault(name, Counter())
            for i in range(threads):
                w = Writer(self.cluster, self.ledger, name, counter, interval, i)
                self.writers.append(w)
                w.start()
        self.cluster.event("writers on %s: %d thread(s) each, %d ms between writes" % (
            ",".join(names), threads, interval * 1000))

    def stop(self):
        for w in self.writers:
            w.stopping.set()
        for w in self.writers:
            w.join(30)
        self.stopped_at = time.monotonic()
        c = self.ledger.counts()
        self.cluster.event("writers stopped: %d acked, %d unknown, %d failed" % (c[ACKED], c[UNKNOWN], c[FAILED]))

    # ------------------------------------------------------------ checks

    def check_own_writes(self, name, before):
        """Every write `name` acknowledged before `before` is in its own
        document now (e.g. right after a restart, while it is isolated)."""
        c = self.cluster
        r = c.node(name).read()
        if r is None:
            raise ClusterError("%s has no document %s after its restart" % (name, DOC))
        present = r["value"].get("w", {})
        acked = self.ledger.keys(ACKED, node=name, before=before)
        lost = [k for k in acked if k not in present]
        if lost:
            raise ClusterError("%s lost %d of the %d writes it acknowledged before the kill: %s" % (
                name, len(lost), len(acked), ", ".join(sorted(lost, key=_key_order)[:20])))
        c.event("%s kept all %d writes it acknowledged before the kill" % (name, len(acked)))
        return len(acked)

    def wait_converged(self, what="all nodes have the same digest and frontier", timeout=60.0):
        """Waits until every node reports the same digest and frontier for the
        document and nothing pending. Returns the seconds it took."""
        c = self.cluster
        names = list(c.nodes)
        last = {}

        def converged():
            states = {}
            for name in names:
                d = c.node(name).doc_status(timeout=3)
                if d is None:
                    return False
                states[name] = (d["digest"], d["frontier"], d["pending"])
            last.clear()
            last.update(states)
            first = next(iter(states.values()))
            return all(s[:2] == first[:2] and s[2] == 0 for s in states.values())
        try:
            return c.wait_until(converged, what, timeout=timeout)
        except ClusterError as e:
            raise ClusterError("%s\n%s" % (e, self.describe(last))) from None

    def check(self):
        """Heals everything, waits for convergence, checks. Returns a result dict;
        raises ClusterError with every problem found."""
        c = self.cluster
        if any(w.is_alive() for w in self.writers):
            self.stop()
        c.heal_everything()
        t_ref = max(c.last_recovery, self.stopped_at or 0)
        names = list(c.nodes)
        self.wait_converged("all %d nodes have the same digest and frontier" % len(names))
        converge_s = time.monotonic() - t_ref
        c.event("converged %.2f s after the last heal/last write" % converge_s)
        c.wait_links_live()  # and every link is back

        problems = []
        values, statuses = {}, {}
        for name in names:
            r = c.node(name).read()
            values[name] = r["value"]
            statuses[name] = c.node(name).status()
        issued = self.ledger.writes
        acked = set(self.ledger.keys(ACKED))
        failed = set(self.ledger.keys(FAILED))
        ref_name = names[0]
        for name in names:
            v = values[name]
            w = v.get("w")
            if not isinstance(w, dict):
                problems.append("%s: /w is not a map: %r" % (name, w))
                continue
            missing = sorted(acked - set(w), key=_key_order)
            if missing:
                problems.append("%s: %d acknowledged writes missing: %s" % (
                    name, len(missing), ", ".join(missing[:20])))
            never = sorted((k for k in w if k not in issued), key=_key_order)
            if never:
                problems.append("%s: %d keys never issued: %s" % (name, len(never), ", ".join(never[:20])))
            bad_failed = sorted((k for k in w if k in failed), key=_key_order)
            if bad_failed:
                problems.append("%s: %d writes that failed (never delivered or refused) are present: %s" % (
                    name, len(bad_failed), ", ".join("%s (%s)" % (k, issued[k]["detail"]) for k in bad_failed[:5])))
            wrong = [k for k in w if k in issued and w[k] != issued[k]["n"]]
            if wrong:
                problems.append("%s: %d keys hold a wrong value: %s" % (
                    name, len(wrong), ", ".join("%s=%r" % (k, w[k]) for k in wrong[:10])))
            if v.get("count") != len(w):
                problems.append("%s: /count is %r but /w holds %d keys (a change applied twice or lost?)" % (
                    name, v.get("count"), len(w)))
            d = next((d for d in statuses[name]["docs"] if d["name"] == DOC), None)
            if d is not None and d["changes"] != len(w) + self.setup_changes:
                problems.append("%s: %d changes for %d keys + %d setup change(s)" % (
                    name, d["changes"], len(w), self.setup_changes))
            forks = statuses[name]["counters"].get("forks_detected", 0)
            if forks or (d is not None and d.get("forks")):
                problems.append("%s: fork proofs: %s (a node equivocated)" % (name, forks))
            if v != values[ref_name]:
                problems.append("%s: document differs from %s's" % (name, ref_name))
        digests = {name: next(d["digest"] for d in statuses[name]["docs"] if d["name"] == DOC) for name in names}
        if len(set(digests.values())) != 1:
            problems.append("digests differ: " + ", ".join("%s=%s" % (n, d[:16]) for n, d in digests.items()))
        counts = self.ledger.counts()
        present_unknown = len([k for k in self.ledger.keys(UNKNOWN) if k in values[ref_name].get("w", {})])
        refused = {}
        for name in names:
            for reason, k in statuses[name]["counters"].get("changes_refused", {}).items():
                refused[reason] = refused.get(reason, 0) + k
        result = {
            "converge_s": converge_s,
            "acked": counts[ACKED],
            "unknown": counts[UNKNOWN],
            "unknown_present": present_unknown,
            "failed": counts[FAILED],
            "keys": len(values[ref_name].get("w", {})),
            "refusals": refused,
            "digest": digests[ref_name],
        }
        if problems:
            raise ClusterError("checker found %d problem(s):\n  " % len(problems) + "\n  ".join(problems))
        c.event("check passed: %d keys on each of %d nodes; all %d acked writes present; %d unknown (%d applied); "
                "%d failed (none present); digest %s; refusals %s" % (
                    result["keys"], len(names), counts[ACKED], counts[UNKNOWN], present_unknown,
                    counts[FAILED], digests[ref_name][:16], refused or "none"))
        return result

    def describe(self, last):
        lines = []
        for name, s in last.items():
            digest, frontier, pending = s
            seqs = " ".join("%s:%d" % (a[:8], f["seq"]) for a, f in sorted(frontier.items()))
            lines.append("  %s digest=%s pending=%d frontier %s" % (name, digest[:16], pending, seqs))
        for name, n in self.cluster.nodes.items():
            try:
                st = n.status(timeout=2)
                peers = ", ".join("%s:%s:%s" % ((p.get("peer_id") or "?")[:8], p.get("state"), p.get("direction"))
                                  for p in st["peers"])
                dialers = ", ".join("%s:%s:%s" % (d["url"].split(":")[-1].split("/")[0], d["state"],
                                                  d.get("last_error", "")) for d in st["dialers"])
                lines.append("  %s peers [%s] dialers [%s]" % (name, peers, dialers))
            except Exception as e:  # noqa: BLE001 - diagnostics only
                lines.append("  %s status: %s" % (name, e))
        return "\n".join(lines)


def _key_order(k):
    node, _, n = k.rpartition("-")
    return (node, int(n) if n.isdigit() else 0)
