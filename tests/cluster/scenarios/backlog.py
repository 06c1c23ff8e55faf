"""A large catch-up under writes, interrupted by kill -9.

n3 is cut off while n1 and n2 write as fast as they can (4 threads each),
so that it falls thousands of changes behind. Its links heal while the
writes go on; once it holds a third of n1's changes it is killed with
SIGKILL in the middle of the catch-up and restarted, and must then get
everything (the delta resumes from what it had committed). Then its links
are throttled to 32 KB/s for 4 s under the same writes, so that it falls
behind the live stream, and cleared.
"""
import time

NAME = "backlog"
DESCRIPTION = "3 nodes; n3 cut off while n1,n2 write fast; heal under writes, SIGKILL n3 mid catch-up; throttle"


def run(c, w, opts):
    c.start_nodes(3)
    w.setup()
    for a, b in c.links_of("n3"):
        c.cut(a, b)
    w.start(["n1", "n2"], interval=0, threads=4)
    c.hold(6)
    n1 = c.node("n1")
    n1_id = n1.id
    backlog = sum(f["seq"] for f in n1.doc_status()["frontier"].values())
    target = n1.doc_status()["frontier"][n1_id]["seq"]
    c.event("backlog: n1 holds %d changes, %d of them its own" % (backlog, target))
    c.heal_all()

    def n3_has(k):
        d = c.node("n3").doc_status(timeout=2)
        return d is not None and d["frontier"].get(n1_id, {}).get("seq", 0) >= k
    c.wait_until(lambda: n3_has(target // 3), "n3 has a third of n1's backlog", timeout=60, interval=0.01)
    c.kill("n3")
    c.restart("n3")
    t = time.monotonic()
    c.wait_until(lambda: n3_has(target), "n3 has all of n1's %d changes from before the heal" % target,
                 timeout=120)
    took = time.monotonic() - t
    c.event("n3 caught up on n1's backlog %.2f s after its restart" % took)

    for other in ("n1", "n2"):
        c.throttle(other, "n3", 32 * 1024)
    c.hold(4)
    c.clear_link("n1", "n3")
    c.clear_link("n2", "n3")
    c.hold(2)
    w.stop()
    result = w.check()
    result.setdefault("notes", []).append(
        "backlog of %d changes; n3 caught up %.2f s after its restart mid catch-up" % (backlog, took))
    return result
