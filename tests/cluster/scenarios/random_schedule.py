"""A seeded random fault schedule under writes.

Five nodes write all the time while a schedule drawn from the seed cuts
and heals links, partitions the cluster, adds latency and throttles,
stalls one direction of a link, kills (SIGKILL) and restarts nodes, and
stops (SIGSTOP) and continues them, with at most two nodes down or stopped
at once. The schedule depends only on the seed (each step is chosen from
the state the earlier steps made, never from timing), so `--seed N`
replays the same faults in the same order; the interleaving of writes with
them depends on timing. `--soak SECONDS` sets how long it runs (default
20 s). At the end everything is healed and the checker runs.
"""
import random
import time

from cluster import SHORT_KEEPALIVE

NAME = "random"
DESCRIPTION = "5 nodes under writes, seeded random cuts/partitions/delays/kills/restarts/pauses"
NODE_CONFIG = dict(SHORT_KEEPALIVE)
DEFAULT_SECONDS = 20.0
MAX_DOWN = 2  # nodes killed or stopped at the same time


def run(c, w, opts):
    rng = random.Random(opts.seed)
    seconds = opts.soak or DEFAULT_SECONDS
    c.event("random schedule: seed %d, %.0f s" % (opts.seed, seconds))
    names = c.start_nodes(5)
    w.setup()
    w.start(interval=0.03)

    dead, stopped = set(), set()
    pairs = sorted(c.links)
    steps = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        steps += 1
        up = [n for n in names if n not in dead and n not in stopped]
        faulty = [ab for ab in pairs if not c.links[ab].healthy()]
        cut = [ab for ab in pairs if c.links[ab].is_cut]
        choices = ["cut", "cut", "partition", "delay", "throttle", "stall", "hold"]
        if cut:
            choices += ["heal", "heal"]
        if faulty:
            choices += ["clear"]
        if len(faulty) > 3:
            choices += ["heal_all"]
        if len(dead) + len(stopped) < MAX_DOWN and len(up) > 2:
            choices += ["kill", "pause"]
        if dead:
            choices += ["restart", "restart"]
        if stopped:
            choices += ["cont", "cont"]
        action = rng.choice(choices)
        if action == "cut":
            c.cut(*rng.choice(pairs))
        elif action == "heal":
            c.heal(*rng.choice(cut))
        elif action == "clear":
            c.clear_link(*rng.choice(faulty))
        elif action == "heal_all":
            c.heal_all()
        elif action == "partition":
            shuffled = list(names)
            rng.shuffle(shuffled)
            k = rng.randint(1, len(names) - 1)
            c.partition(sorted(shuffled[:k]), sorted(shuffled[k:]))
        elif action == "delay":
            c.delay(*rng.choice(pairs), ms=rng.choice([20, 80, 200]))
        elif action == "throttle":
            c.throttle(*rng.choice(pairs), bytes_per_second=rng.choice([4096, 16384, 65536]))
        elif action == "stall":
            c.pause_link(*rng.choice(pairs), direction=rng.choice(["to_upstream", "to_client"]))
        elif action == "kill":
            victim = rng.choice(up)
            c.kill(victim)
            dead.add(victim)
        elif action == "restart":
            victim = rng.choice(sorted(dead))
            c.restart(victim)
            dead.discard(victim)
        elif action == "pause":
            victim = rng.choice(up)
            c.pause(victim)
            stopped.add(victim)
        elif action == "cont":
            victim = rng.choice(sorted(stopped))
            c.cont(victim)
            stopped.discard(victim)
        c.hold(rng.uniform(0.2, 1.5))
    c.event("random schedule done: %d steps" % steps)
    w.stop()
    result = w.check()
    result.setdefault("notes", []).append("%d random steps, seed %d" % (steps, opts.seed))
    return result
