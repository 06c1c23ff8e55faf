"""A slow node under writes.

Both links of n3 get 100 ms of latency per chunk and an 8 KB/s throttle
each way while all three nodes write. n3 must keep receiving while the
writes go on, and once the writers stop the cluster must converge over the
slow links (no heal first); then the links are made fast again and the
checker runs.
"""
import time

from cluster import ClusterError

NAME = "slow"
DESCRIPTION = "3 nodes under writes, n3's links delayed 100 ms and throttled to 8 KB/s; converge while slow"


def run(c, w, opts):
    c.start_nodes(3)
    w.setup()
    w.start(interval=0.04)
    c.hold(1)

    for other in ("n1", "n2"):
        c.delay(other, "n3", 100)
        c.throttle(other, "n3", 8 * 1024)
    t = time.monotonic()
    c.hold(5)
    # n3 still receives n1's writes over the slow links, with some lag.
    n1_id = c.node("n1").id
    before = c.node("n3").doc_status()["frontier"].get(n1_id, {}).get("seq", 0)
    c.hold(1)
    after = c.node("n3").doc_status()["frontier"].get(n1_id, {}).get("seq", 0)
    if after <= before:
        raise ClusterError("n3 received none of n1's changes over the slow links in 1 s (seq stays %d)" % before)
    c.event("n3 receives over the slow links: n1's seq on n3 %d -> %d in 1 s" % (before, after))
    w.stop()
    took = w.wait_converged("the cluster converges over the slow links", timeout=60)
    c.event("converged over the slow links %.2f s after the writers stopped (%.1f s of slow writes)" % (
        took, time.monotonic() - t - took))
    for other in ("n1", "n2"):
        p = c.links[(other, "n3")]
        c.event("link %s: %d bytes to n3, %d bytes back" % (p.name, p.bytes["to_upstream"], p.bytes["to_client"]))
    c.heal_all()
    result = w.check()
    result.setdefault("notes", []).append("converged over the slow links in %.2f s" % took)
    return result
