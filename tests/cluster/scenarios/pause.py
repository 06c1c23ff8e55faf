"""SIGSTOP of a peer beyond the keepalive, and a one-way stalled link.

Nodes run with a short keepalive (ping every 500 ms, no pong for 1500 ms:
close). n2 is stopped with SIGSTOP while everyone writes: n1 and n3 must
drop their sessions with n2 by the keepalive (a stopped process keeps its
sockets open, so only the keepalive can notice), and go on writing. After
SIGCONT n2 reconnects and catches up. Then the link n1->n3 stops carrying
data in one direction only (the proxy stops reading n1's side, as with a
peer that stops reading): the keepalive must close it too; on resume the
link comes back.
"""
import time

from cluster import SHORT_KEEPALIVE

NAME = "pause"
DESCRIPTION = "3 nodes, keepalive 500/1500 ms: SIGSTOP n2 for 4 s, SIGCONT; stall n1->n3 one way, resume"
NODE_CONFIG = dict(SHORT_KEEPALIVE)


def run(c, w, opts):
    c.start_nodes(3)
    w.setup()
    w.start()
    c.hold(1.5)

    n2 = c.node("n2").id
    c.pause("n2")
    t = time.monotonic()
    drop_n2 = c.wait_until(lambda: n2 not in c.live_peers("n1") and n2 not in c.live_peers("n3"),
                        "n1 and n3 drop the stopped n2 (keepalive)", timeout=10)
    c.event("n1 and n3 dropped n2 %.2f s after SIGSTOP (pong timeout 1.5 s)" % drop_n2)
    c.hold(max(0.0, 4 - (time.monotonic() - t)))
    c.cont("n2")
    c.wait_links_live()
    c.hold(1.5)

    n1, n3 = c.node("n1").id, c.node("n3").id
    c.pause_link("n1", "n3", "to_upstream")
    drop_link = c.wait_until(lambda: n1 not in c.live_peers("n3") and n3 not in c.live_peers("n1"),
                        "the stalled link n1->n3 is closed on both ends (keepalive)", timeout=10)
    c.event("stalled link n1->n3 closed on both ends after %.2f s" % drop_link)
    c.hold(2)
    w.stop()
    c.heal_all()
    result = w.check()
    result.setdefault("notes", []).append(
        "stopped n2 dropped after %.2f s, stalled link after %.2f s" % (drop_n2, drop_link))
    return result
