"""Partition and heal of a 5-node cluster under writes.

Writes go on everywhere through both partitions: each side stays available
(AP) and acknowledges writes on its own; after the heal every side has
every write.
"""
import time

from cluster import ClusterError

NAME = "partition"
DESCRIPTION = "5 nodes under writes: partition {n1,n2}|{n3,n4,n5}, heal, isolate n5, heal"


def run(c, w, opts):
    c.start_nodes(5)
    w.setup()
    w.start()
    c.hold(2)

    c.partition(["n1", "n2"], ["n3", "n4", "n5"])
    t = time.monotonic()
    c.hold(4)
    for name in c.nodes:  # both sides keep acknowledging writes
        if not w.ledger.keys("acked", node=name, after=t):
            raise ClusterError("%s acknowledged no write during the partition" % name)
    c.heal_all()
    c.wait_links_live()
    c.hold(2)

    c.partition(["n5"])  # n5 alone against the other four
    c.hold(3)
    w.stop()
    c.heal_all()
    return w.check()

