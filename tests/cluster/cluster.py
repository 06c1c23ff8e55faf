"""A cluster of real `starling serve` processes on loopback, and the faults
the runner makes from outside them.

    c = Cluster(binary, run_dir, out)
    c.start_nodes(5)               # init all, mesh them through proxies, serve
    c.partition(["n1", "n2"], ["n3", "n4", "n5"])
    c.heal_all()
    c.kill("n3"); c.restart("n3")  # SIGKILL, then the same data dir and ports
    c.pause("n2"); c.cont("n2")    # SIGSTOP / SIGCONT

Topology: for every pair of nodes one link, dialed by the node that came
first, through its own `Proxy`; the node it dials trusts it by id
(`--trust`), and so does the dialer. Every node has its own data directory,
its own ephemeral sync and HTTP ports (port 0 at first start, read back from
the "node running" log line; the same ports again on a restart) and its own
log file (`--log-format json`) in the run directory.
"""

import ctypes
import http.client
import json
import os
import signal
import subprocess
import threading
import time

from proxy import Proxy, ProxyLoop

DOC = "load"  # the document every scenario writes to

# Cluster-test defaults written into each node's starling.json. The dialer
# retries fast (production: 1 s doubling to 30 s) so that a healed link is
# back in about a second, not up to 30 s.
BASE_CONFIG = {
    "dialer": {"base_backoff_ms": 100, "max_backoff_ms": 1000},
}
# A short keepalive, for scenarios that pause a process: a peer that stops
# answering is dropped after 1.5 s (production: ping 30 s, pong 60 s).
SHORT_KEEPALIVE = {"timeouts": {"ping_interval_ms": 500, "pong_timeout_ms": 1500}}


class ClusterError(Exception):
    """A scenario step could not be done (a node does not start, a condition
    is not met before its deadline): the scenario fails with this message."""


# ------------------------------------------------------------------ HTTP


class Refused(Exception):
    """The request was never delivered (connection refused or failed)."""


class Unknown(Exception):
    """The request may or may not have been processed (timeout or reset after sending)."""


def http_call(port, method, path, body=None, token=None, timeout=5.0):
    """One HTTP request to 127.0.0.1:port. Returns (status, parsed JSON or None).
    Raises Refused if nothing was sent, Unknown if the outcome is unknown."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        try:
            conn.connect()
        except OSError as e:
            raise Refused("%s %s: %s" % (method, path, e)) from None
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise Unknown("%s %s: %s: %s" % (method, path, type(e).__name__, e)) from None
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return resp.status, parsed
    finally:
        conn.close()


# ----------------------------------------------------------- processes

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here, not in the forked child
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent():
    # In the child before exec (one foreign call, no allocation or import):
    # SIGKILL when the runner dies, even by SIGKILL. (Linux sends it when the
    # thread that started the child ends: nodes are started from the main thread.)
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


_all_procs = []  # every process any cluster started, for the atexit sweep
_all_lock = threading.Lock()


def kill_all_processes():
    """SIGKILL every node process still running (atexit, signals, finally)."""
    with _all_lock:
        procs = list(_all_procs)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(5)
        except Exception:
            pass


class Node:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.dir = os.path.join(cluster.run_dir, name)
        self.log_path = os.path.join(cluster.run_dir, name + ".log")
        self.id = None
        self.api_token = None
        self.sync_port = 0
        self.http_port = 0
        self.proc = None
        self.peers = []        # proxies this node dials
        self.trust = []        # node ids it trusts (--trust)
        self.join_token = None
        self.expected_exit = True   # False while it runs: an exit is a crash
        self.paused = False
        self.starts = 0
        self.exits = []        # (how, return code)

    @property
    def short(self):
        return self.id[:8] if self.id else "?"

    def init(self, config):
        out = subprocess.run([self.cluster.binary, "init", "--data-dir", self.dir,
                              "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        text = out.stdout.decode(errors="replace")
        if out.returncode != 0:
            raise ClusterError("%s: starling init exited %d: %s" % (self.name, out.returncode, text.strip()))
        for line in text.splitlines():
            if line.startswith("node id:"):
                self.id = line.split(":", 1)[1].strip()
        if not self.id or len(self.id) != 64:
            raise ClusterError("%s: no 'node id:' in the output of starling init: %r" % (self.name, text))
        with open(os.path.join(self.dir, "api.token")) as f:
            self.api_token = f.read().strip()
        # Merge the test settings into the config file init wrote.
        cfg_path = os.path.join(self.dir, "starling.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        for k, v in config.items():
            cfg[k] = v
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)

    def command(self):
        cmd = [self.cluster.binary, "serve", "--data-dir", self.dir, "--log-format", "json",
               "--listen", "127.0.0.1:%d" % self.sync_port,
               "--http-listen", "127.0.0.1:%d" % self.http_port]
        for p in self.peers:
            cmd += ["--peer", "ws://127.0.0.1:%d/v1/sync" % p.port]
        for t in self.trust:
            cmd += ["--trust", t]
        if self.join_token:
            cmd += ["--join-token", self.join_token]
        return cmd

    def start(self, timeout=20.0):
        """Starts `starling serve`; returns when its HTTP API answers /readyz."""
        if self.running():
            raise ClusterError("%s is already running" % self.name)
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        logf = open(self.log_path, "ab")
        self.starts += 1
        self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        logf.close()
        with _all_lock:
            _all_procs.append(self.proc)
        self.paused = False
        deadline = time.monotonic() + timeout
        running = None
        while running is None:
            if self.proc.poll() is not None:
                raise ClusterError("%s: starling serve exited %d at start; log %s:\n%s" % (
                    self.name, self.proc.returncode, self.log_path, self.log_tail(offset)))
            if time.monotonic() > deadline:
                raise ClusterError("%s: no 'node running' log line within %.0f s; log %s:\n%s" % (
                    self.name, timeout, self.log_path, self.log_tail(offset)))
            running = self._find_running_line(offset)
            if running is None:
                time.sleep(0.02)
        sync_port = int(running["sync"].rsplit(":", 1)[1].split("/")[0])
        http_port = int(running["http"].rsplit(":", 1)[1])
        if running.get("node_id") != self.id:
            raise ClusterError("%s: serves node id %s, init said %s" % (self.name, running.get("node_id"), self.id))
        if self.sync_port and sync_port != self.sync_port:
            raise ClusterError("%s: restarted on sync port %d, not %d" % (self.name, sync_port, self.sync_port))
        self.sync_port, self.http_port = sync_port, http_port
        self.expected_exit = False
        for p in self.cluster.proxies_to(self.name):
            p.set_upstream(self.sync_port)
        self.cluster.wait_until(lambda: self.http("GET", "/readyz", timeout=2)[0] == 200,
                                "%s answers /readyz" % self.name, timeout=max(1.0, deadline - time.monotonic()),
                                quiet_errors=True)

    def _find_running_line(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return None
        for line in data.splitlines():
            if b"node running" not in line:
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("msg") == "node running":
                return j
        return None

    def log_tail(self, offset=0, lines=15):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                data = f.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    " + l for l in data.splitlines()[-lines:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def crashed(self):
        """The return code if the process ended without the runner asking."""
        if self.proc is not None and not self.expected_exit and self.proc.poll() is not None:
            return self.proc.returncode
        return None

    def signal(self, sig):
        if not self.running():
            raise ClusterError("%s is not running (cannot send %s)" % (self.name, signal.Signals(sig).name))
        self.proc.send_signal(sig)

    def kill9(self):
        self.expected_exit = True
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.paused = False
        self.exits.append(("SIGKILL", self.proc.returncode))

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def cont(self):
        self.signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout=10.0):
        """SIGTERM (after SIGCONT if paused); SIGKILL if it does not exit in time.
        Returns a warning string or None."""
        if not self.running():
            return None
        self.expected_exit = True
        try:
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
                self.paused = False
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self.exits.append(("SIGTERM timeout, SIGKILL", self.proc.returncode))
            return "%s did not exit within %.0f s of SIGTERM (killed)" % (self.name, timeout)
        self.exits.append(("SIGTERM", self.proc.returncode))
        if self.proc.returncode != 0:
            return "%s exited %d after SIGTERM" % (self.name, self.proc.returncode)
        return None

    def http(self, method, path, body=None, timeout=5.0):
        return http_call(self.http_port, method, path, body=body, token=self.api_token, timeout=timeout)

    def status(self, timeout=3.0):
        st, j = self.http("GET", "/v1/status", timeout=timeout)
        if st != 200:
            raise ClusterError("%s: GET /v1/status answered %d: %s" % (self.name, st, j))
        return j

    def doc_status(self, doc=DOC, timeout=3.0):
        for d in self.status(timeout)["docs"]:
            if d["name"] == doc:
                return d
        return None

    def read(self, doc=DOC, pointer="", timeout=5.0):
        path = "/v1/docs/%s" % doc + ("?pointer=" + pointer if pointer else "")
        st, j = self.http("GET", path, timeout=timeout)
        if st == 404:
            return None
        if st != 200:
            raise ClusterError("%s: GET %s answered %d: %s" % (self.name, path, st, j))
        return j

    def write(self, mutations, doc=DOC, timeout=5.0):
        return self.http("POST", "/v1/docs/%s/changes" % doc, {"mutations": mutations}, timeout=timeout)


class Cluster:
    def __init__(self, binary, run_dir, out, node_config=None):
        self.binary = binary
        self.run_dir = run_dir
        self.out = out                    # print-like function for the event log
        self.config = dict(BASE_CONFIG)
        self.config.update(node_config or {})
        self.loop = ProxyLoop()
        self.nodes = {}                   # name -> Node, in creation order
        self.links = {}                   # (dialer name, dialed name) -> Proxy
        self.t0 = time.monotonic()
        self.last_recovery = self.t0      # time of the last heal / cont / restart
        self.warnings = []
        self._events = open(os.path.join(run_dir, "events.log"), "a")

    # ------------------------------------------------------------ events

    def now(self):
        return time.monotonic() - self.t0

    def event(self, text):
        line = "[%7.2fs] %s" % (self.now(), text)
        self._events.write(line + "\n")
        self._events.flush()
        self.out(line)

    def recovered(self):
        self.last_recovery = time.monotonic()

    # ------------------------------------------------------------ nodes

    def node(self, name):
        try:
            return self.nodes[name]
        except KeyError:
            raise ClusterError("no node %r (nodes: %s)" % (name, ", ".join(self.nodes)))

    def add_node(self, name=None):
        """Creates and initialises a node (not started)."""
        name = name or "n%d" % (len(self.nodes) + 1)
        n = Node(self, name)
        n.init(self.config)
        self.nodes[name] = n
        return n

    def link(self, a, b):
        """A link a -> b: a dials b through a new proxy; each trusts the other."""
        na, nb = self.node(a), self.node(b)
        p = Proxy(self.loop, "%s->%s" % (a, b), nb.sync_port or None)
        self.links[(a, b)] = p
        na.peers.append(p)
        if nb.id not in na.trust:
            na.trust.append(nb.id)
        if na.id not in nb.trust:
            nb.trust.append(na.id)
        return p

    def proxies_to(self, name):
        return [p for (a, b), p in self.links.items() if b == name]

    def links_of(self, name):
        return [(a, b) for (a, b) in self.links if name in (a, b)]

    def start_nodes(self, count):
        """Inits `count` nodes, links every pair, starts them all and waits
        until every link is live."""
        names = [self.add_node().name for _ in range(count)]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                self.link(a, b)
        for name in names:
            self.node(name).start()
            n = self.node(name)
            self.event("started %s id=%s sync=%d http=%d log=%s" % (
                name, n.short, n.sync_port, n.http_port, os.path.basename(n.log_path)))
        self.wait_links_live()
        return names

    def create_token(self, via, perm="read,write", ttl="10m"):
        """`starling token create` against the running node `via`; returns the token."""
        v = self.node(via)
        cmd = [self.binary, "token", "create", "--node", "http://127.0.0.1:%d" % v.http_port,
               "--data-dir", v.dir, "--perm", perm, "--ttl", ttl, "--note", "cluster test join"]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        token = out.stdout.decode().strip()
        if out.returncode != 0 or not token.startswith("stk1_"):
            raise ClusterError("token create against %s failed (exit %d): %s %s" % (
                via, out.returncode, token, out.stderr.decode().strip()))
        self.event("token create on %s: %s... (%s, ttl %s)" % (via, token[:12], perm, ttl))
        return token

    def join_node(self, via, token, name=None):
        """Starts a new node with --join-token `token`, trusting `via` only
        and dialing it through a new proxy. Returns its name."""
        v = self.node(via)
        n = self.add_node(name)
        p = Proxy(self.loop, "%s->%s" % (n.name, via), v.sync_port)
        self.links[(n.name, via)] = p
        n.peers.append(p)
        n.trust.append(v.id)
        n.join_token = token
        n.start()
        self.event("started %s id=%s sync=%d http=%d (join token %s..., trusts %s only)" % (
            n.name, n.short, n.sync_port, n.http_port, token[:12], via))
        return n.name

    def remove_node(self, name):
        """Stops a node and drops it and its links from the cluster (and the final check)."""
        n = self.node(name)
        w = n.stop()
        if w:
            self.warnings.append(w)
        for ab in [ab for ab in self.links if name in ab]:
            self.links.pop(ab).close()
        del self.nodes[name]
        self.event("removed %s" % name)

    # ------------------------------------------------------------ waiting

    def check_no_crash(self):
        for n in self.nodes.values():
            rc = n.crashed()
            if rc is not None:
                raise ClusterError("%s exited by itself with code %s; log %s:\n%s" % (
                    n.name, rc, n.log_path, n.log_tail()))

    def wait_until(self, cond, what, timeout=30.0, interval=0.05, quiet_errors=False):
        """Polls cond() until it is true; ClusterError after `timeout` s.
        Returns the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        last_error = None
        while True:
            self.check_no_crash()
            try:
                if cond():
                    return time.monotonic() - start
            except (Refused, Unknown, ClusterError) as e:
                last_error = e
            if time.monotonic() > deadline:
                msg = "timed out after %.1f s waiting until %s" % (timeout, what)
                if last_error is not None:
                    msg += " (last error: %s)" % last_error
                raise ClusterError(msg)
            time.sleep(interval)

    def live_peers(self, name):
        return {p.get("peer_id") for p in self.node(name).status()["peers"] if p.get("state") == "live"}

    def wait_links_live(self, timeout=30.0):
        """Every link whose proxy is healthy and whose nodes run is live on both ends."""
        def ok():
            for name, n in self.nodes.items():
                if not n.running() or n.paused:
                    continue
                want = set()
                for (a, b), p in self.links.items():
                    if name in (a, b) and not p.is_cut and not p.paused:
                        other = self.node(b if a == name else a)
                        if other.running() and not other.paused:
                            want.add(other.id)
                if not want <= self.live_peers(name):
                    return False
            return True
        took = self.wait_until(ok, "every healthy link is live", timeout)
        self.event("all healthy links live (%.2f s)" % took)

    def hold(self, seconds):
        """Lets the cluster run (writes go on) for a while."""
        time.sleep(seconds)

    # ------------------------------------------------------------ faults

    def _pair(self, a, b):
        if (a, b) in self.links:
            return self.links[(a, b)]
        if (b, a) in self.links:
            return self.links[(b, a)]
        raise ClusterError("no link between %s and %s" % (a, b))

    def cut(self, a, b):
        self._pair(a, b).cut()
        self.event("cut %s<->%s" % (a, b))

    def heal(self, a, b):
        self._pair(a, b).heal()
        self.recovered()
        self.event("heal %s<->%s" % (a, b))

    def partition(self, *groups):
        """Cuts every link between nodes of different groups. Nodes named in
        no group form one more group."""
        named = {n for g in groups for n in g}
        rest = [n for n in self.nodes if n not in named]
        groups = [list(g) for g in groups] + ([rest] if rest else [])
        side = {n: i for i, g in enumerate(groups) for n in g}
        cut = []
        for (a, b), p in self.links.items():
            if side[a] != side[b]:
                p.cut()
                cut.append("%s-%s" % (a, b))
        self.event("partition %s (cut %d links: %s)" % (
            " | ".join("{%s}" % ",".join(g) for g in groups), len(cut), " ".join(cut)))

    def heal_all(self):
        """Every proxy back to normal: no cut, no delay, no throttle, no pause."""
        changed = [p.name for p in self.links.values() if not p.healthy()]
        for p in self.links.values():
            p.clear()
        self.recovered()
        self.event("heal all links (%s)" % (", ".join(changed) if changed else "none was faulty"))

    def delay(self, a, b, ms):
        self._pair(a, b).set_delay(ms)
        self.event("delay %s<->%s %d ms per chunk" % (a, b, ms))

    def throttle(self, a, b, bytes_per_second):
        self._pair(a, b).set_throttle(bytes_per_second)
        self.event("throttle %s<->%s %s B/s" % (a, b, bytes_per_second))

    def pause_link(self, a, b, direction):
        self._pair(a, b).pause(direction)
        self.event("pause link %s %s" % (self._pair(a, b).name, direction))

    def clear_link(self, a, b):
        p = self._pair(a, b)
        was = p.describe()
        p.clear()
        self.recovered()
        self.event("clear link %s (was %s)" % (p.name, was))

    def kill(self, name):
        n = self.node(name)
        n.kill9()
        self.event("SIGKILL %s (exit %s)" % (name, n.proc.returncode))

    def restart(self, name):
        n = self.node(name)
        t = time.monotonic()
        n.start()
        self.recovered()
        self.event("restarted %s on sync=%d http=%d (ready in %.2f s)" % (
            name, n.sync_port, n.http_port, time.monotonic() - t))

    def pause(self, name):
        self.node(name).pause()
        self.event("SIGSTOP %s" % name)

    def cont(self, name):
        self.node(name).cont()
        self.recovered()
        self.event("SIGCONT %s" % name)

    def heal_everything(self):
        """Before the final check: every link healthy, every node running."""
        for n in self.nodes.values():
            if n.paused:
                self.cont(n.name)
        for n in self.nodes.values():
            if not n.running():
                self.restart(n.name)
        if any(not p.healthy() for p in self.links.values()):
            self.heal_all()

    # ------------------------------------------------------------ teardown

    def shutdown(self):
        """Stops every node (SIGTERM, then SIGKILL) and every proxy. Never raises."""
        for n in self.nodes.values():
            try:
                w = n.stop()
                if w:
                    self.warnings.append(w)
            except Exception as e:  # noqa: BLE001 - teardown must go on
                self.warnings.append("%s: stop failed: %s" % (n.name, e))
                try:
                    n.proc.kill()
                except Exception:
                    pass
        for p in self.links.values():
            p.close()
        self.loop.close()
        self._events.close()
