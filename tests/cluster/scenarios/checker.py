"""The checker checks: it must catch a lost acknowledged write, a key that
was never issued, and a change applied twice.

Two nodes write for a moment; then the ledger is told of an acknowledged
write that never happened (as if a node had lost it), a key is written
behind the ledger's back (as if from nowhere), and /count is incremented
without a key (as if a change had been counted twice). The checker must
report all three; this scenario passes only if it does.
"""
from cluster import ClusterError

NAME = "checker"
DESCRIPTION = "self-test: the checker must report a lost ack, a key from nowhere and a double count"


def run(c, w, opts):
    c.start_nodes(2)
    w.setup()
    w.start(interval=0.02)
    c.hold(1)
    w.stop()
    w.ledger.record("n1-999999", "n1", 999999, "acked")          # "lost" acknowledged write
    st, _ = c.node("n2").write([{"op": "set", "path": "/w/ghost-1", "value": 1},
                                {"op": "inc", "path": "/count", "value": 1}])  # a key never issued
    st2, _ = c.node("n1").write([{"op": "inc", "path": "/count", "value": 1}])  # counted twice
    if st != 200 or st2 != 200:
        raise ClusterError("could not make the faults (HTTP %s, %s)" % (st, st2))
    try:
        w.check()
    except ClusterError as e:
        text = str(e)
        expected = ["acknowledged writes missing: n1-999999", "keys never issued: ghost-1", "/count is"]
        missing = [x for x in expected if x not in text]
        if missing:
            raise ClusterError("the checker missed %s; it said:\n%s" % (missing, text))
        c.event("the checker reported all three faults:\n    " + text.replace("\n", "\n    "))
        # The counts of the injected faults are not part of this run's result.
        counts = w.ledger.counts()
        return {"converge_s": 0.0, "acked": counts["acked"] - 1, "unknown": counts["unknown"],
                "failed": counts["failed"], "notes": ["checker caught all 3 injected faults"]}
    raise ClusterError("the checker passed a cluster with a lost write, a ghost key and a double count")
