"""kill -9 and restart of writer nodes (durability sync).

n3 is killed with SIGKILL while it writes, its links are cut, and it is
restarted on the same data directory and ports: isolated, everything in
its document comes from its own disk, so every write it acknowledged
before the kill must be there. It then writes new changes while still
isolated (it must go on with its own seq chain: had it lost a committed
change that a peer already holds, its next change would reuse that seq and
the peers would find a fork proof). Then the links heal, n3 is killed and
restarted a second time, and n1 once while connected.
"""
import time

NAME = "kill9"
DESCRIPTION = "3 nodes under writes: SIGKILL n3, restart it isolated (acked writes kept), heal; kill n3, n1 again"


def run(c, w, opts):
    c.start_nodes(3)
    w.setup()
    w.start(interval=0.01, threads=3)  # several writes in flight when the kill lands
    c.hold(2)

    c.kill("n3")
    killed_at = time.monotonic()
    for a, b in c.links_of("n3"):
        c.cut(a, b)
    c.restart("n3")
    w.check_own_writes("n3", before=killed_at)
    c.hold(1.5)  # n3 writes while isolated
    c.heal_all()
    c.wait_links_live()
    c.hold(1.5)

    c.kill("n3")
    killed_at = time.monotonic()
    c.restart("n3")
    w.check_own_writes("n3", before=killed_at)
    c.hold(1.5)

    c.kill("n1")
    c.hold(0.5)  # n2 and n3 write without n1
    c.restart("n1")
    c.wait_links_live()
    c.hold(1.5)
    w.stop()
    return w.check()
