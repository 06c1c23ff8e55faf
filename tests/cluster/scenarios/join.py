"""A node joins mid-run with a join token.

Three nodes write. `starling token create` issues a single-use token on n1,
and n1 is killed (SIGKILL) and restarted before the token is used: the
token must have been stored durably. A new node n4 serves with
--join-token, --trust <n1> and --peer <n1> only, catches up on the history
(measured) while the others keep writing, and writes too; n2 and n3 never
hear of n4 and get its writes through n1. n4 is killed and restarted with
the same flags (its token is spent by now: n1 must accept it as a trusted
key). After the check, n1 is killed and restarted once more and another
new node presents the spent token: n1 must refuse it (single use, across
a crash).
"""
import time

from cluster import ClusterError

NAME = "join"
DESCRIPTION = "3 nodes under writes; token on n1, kill -9 n1; n4 joins with it, writes, restarts; spent token refused"


def run(c, w, opts):
    c.start_nodes(3)
    w.setup()
    w.start(interval=0.01, threads=2)  # some history for n4 to catch up on
    c.hold(2.5)

    token = c.create_token("n1")
    c.kill("n1")  # the unused token must survive a crash of its issuer
    c.restart("n1")
    c.wait_links_live()

    history = c.node("n1").doc_status()["frontier"]  # what n4 must catch up on
    total = sum(h["seq"] for h in history.values())
    t = time.monotonic()
    n4 = c.join_node("n1", token)

    def caught_up():
        d = c.node(n4).doc_status()
        return d is not None and all(d["frontier"].get(a, {}).get("seq", 0) >= h["seq"] for a, h in history.items())
    c.wait_until(caught_up, "n4 has the %d changes n1 had when n4 started" % total, timeout=30)
    took = time.monotonic() - t
    c.event("n4 caught up on %d changes %.2f s after its start (the others keep writing)" % (total, took))
    w.start([n4])
    c.hold(2)
    # n2 and n3 hold n4's writes, relayed by n1.
    n4_id = c.node(n4).id
    for name in ("n2", "n3"):
        seq = c.node(name).doc_status()["frontier"].get(n4_id, {}).get("seq", 0)
        if seq == 0:
            raise ClusterError("%s has none of n4's changes 2 s after n4 started writing" % name)

    c.kill(n4)
    c.hold(0.5)
    c.restart(n4)  # the same flags, the spent token included
    c.wait_links_live()
    c.hold(1.5)
    w.stop()
    result = w.check()
    result.setdefault("notes", []).append("n4 caught up on %d changes in %.2f s" % (total, took))

    # The token is single-use, across a crash of n1: a new node presenting it is refused.
    c.kill("n1")
    c.restart("n1")
    refused_before = c.node("n1").status()["counters"]["peer_errors"].get("token_invalid", 0)
    n5 = c.join_node("n1", token, name="n5-spent")
    p = c.links[(n5, "n1")]
    c.wait_until(lambda: c.node("n1").status()["counters"]["peer_errors"].get("token_invalid", 0) >= refused_before + 1,
                 "n1 refuses the spent token (token_invalid)", timeout=15)
    # A refusal that waiting cannot change stops the newcomer's dialer with
    # a status that says so, instead of redialing with backoff forever.
    c.wait_until(lambda: any(d["state"].startswith("refused: token_invalid") for d in c.node(n5).status()["dialers"]),
                 "n5's dialer stops with refused: token_invalid", timeout=15)
    if c.node(n5).id in c.live_peers("n1") or c.node("n1").id in c.live_peers(n5):
        raise ClusterError("n1 accepted a node presenting a spent join token")
    attempts = [d["attempts"] for d in c.node(n5).status()["dialers"]]
    c.event("n1 refused the spent token (%d dials through the proxy, dialer attempts %s)" % (p.accepted, attempts))
    c.remove_node(n5)
    return result
