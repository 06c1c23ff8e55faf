"""Fault-injecting TCP proxies for the cluster tests (standard library only).

Every peer link of a test cluster goes through one `Proxy`: the dialing node
is given `ws://127.0.0.1:<proxy port>/v1/sync` instead of the peer's real
sync address, and the proxy forwards each connection to the peer's sync
port. The runner then makes faults from outside the nodes, on real sockets:

    cut()              close every forwarded connection and refuse new ones
                       (accepted, then closed at once) until heal()
    heal()             accept and forward again
    set_delay(ms)      hold every chunk this long before forwarding it
                       (a latency: chunks stay in order, delays do not add up)
    set_throttle(bps)  forward at most this many bytes per second per
                       direction (None: unlimited)
    pause(direction)   stop forwarding one direction ("to_upstream": from the
                       dialer to the peer, "to_client": back): the proxy stops
                       reading that side, so kernel buffers and then the
                       sender's queue fill up, as with a peer that stops
                       reading; resume(direction) goes on
    clear()            heal, no delay, no throttle, both directions resumed

All proxies of a run share one asyncio event loop on one background thread
(`ProxyLoop`). Every public method may be called from any thread; it returns
once the change is in effect.
"""

import asyncio
import socket
import threading
import time

DIRECTIONS = ("to_upstream", "to_client")


class ProxyLoop:
    """One asyncio loop on a daemon thread, shared by the proxies of a run."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="proxy-loop", daemon=True)
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, fn, *args, timeout=10.0):
        """Runs fn(*args) (a plain function or a coroutine function) on the loop; returns its result."""

        async def wrapper():
            r = fn(*args)
            if asyncio.iscoroutine(r):
                r = await r
            return r

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def close(self):
        if self.loop.is_closed():
            return

        async def shutdown():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(shutdown, timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


class _Gate:
    """An open/closed flag that coroutines can wait on."""

    def __init__(self):
        self._open = asyncio.Event()
        self._open.set()

    def close(self):
        self._open.clear()

    def open(self):
        self._open.set()

    async def wait(self):
        await self._open.wait()


class _Conn:
    """One forwarded connection: a client socket and its upstream socket."""

    def __init__(self, proxy, c_reader, c_writer, u_reader, u_writer):
        self.proxy = proxy
        self.c_reader, self.c_writer = c_reader, c_writer
        self.u_reader, self.u_writer = u_reader, u_writer
        self.tasks = []
        self.closed = False

    def start(self):
        for direction, reader, writer in (("to_upstream", self.c_reader, self.u_writer),
                                          ("to_client", self.u_reader, self.c_writer)):
            queue = asyncio.Queue(maxsize=64)
            self.tasks.append(asyncio.ensure_future(self._read(direction, reader, queue)))
            self.tasks.append(asyncio.ensure_future(self._write(direction, writer, queue)))
        self._done = asyncio.ensure_future(self._watch())

    async def _read(self, direction, reader, queue):
        p = self.proxy
        try:
            while True:
                await p.gates[direction].wait()
                rate = p.throttle
                size = 65536 if not rate else max(256, min(65536, rate // 20))
                data = await reader.read(size)
                if not data:
                    await queue.put(None)
                    return
                await queue.put((time.monotonic() + p.delay_ms / 1000.0, data))
        except (ConnectionError, OSError):
            self.abort()  # a reset on one side resets the other

    async def _write(self, direction, writer, queue):
        p = self.proxy
        try:
            while True:
                item = await queue.get()
                if item is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                due, data = item
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await p.gates[direction].wait()
                rate = p.throttle
                if rate:
                    await asyncio.sleep(len(data) / float(rate))
                writer.write(data)
                await writer.drain()
                p.bytes[direction] += len(data)
        except (ConnectionError, OSError):
            self.abort()

    async def _watch(self):
        # Both directions finished (EOF each way) or one side failed: close.
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.abort()

    def abort(self):
        if self.closed:
            return
        self.closed = True
        for t in self.tasks:
            t.cancel()
        for w in (self.c_writer, self.u_writer):
            try:
                w.transport.abort()
            except Exception:
                pass
        self.proxy.conns.discard(self)


class Proxy:
    """A TCP proxy 127.0.0.1:<port> -> 127.0.0.1:<upstream port>.

    The upstream port may be set later (set_upstream): until then every
    connection is refused, as if the peer were not up yet."""

    def __init__(self, loop, name, upstream_port=None):
        self._loop = loop
        self.name = name
        self.upstream_port = upstream_port
        self.is_cut = False
        self.delay_ms = 0
        self.throttle = None
        self.paused = set()
        self.accepted = 0
        self.refused = 0
        self.bytes = {d: 0 for d in DIRECTIONS}
        self.conns = set()
        self.gates = None
        self._server = None
        self.port = loop.call(self._listen)

    async def _listen(self):
        self.gates = {d: _Gate() for d in DIRECTIONS}
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._accept, sock=sock)
        return sock.getsockname()[1]

    async def _accept(self, c_reader, c_writer):
        self.accepted += 1
        if self.is_cut or not self.upstream_port:
            self.refused += 1
            c_writer.transport.abort()
            return
        try:
            u_reader, u_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.upstream_port), 5)
        except (OSError, asyncio.TimeoutError):
            self.refused += 1
            c_writer.transport.abort()
            return
        if self.is_cut:  # cut while connecting
            self.refused += 1
            c_writer.transport.abort()
            u_writer.transport.abort()
            return
        for w in (c_writer, u_writer):
            s = w.get_extra_info("socket")
            if s is not None:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(self, c_reader, c_writer, u_reader, u_writer)
        self.conns.add(conn)
        conn.start()

    # ---------------------------------------------------------------- control

    def set_upstream(self, port):
        def f():
            self.upstream_port = port
        self._loop.call(f)

    def cut(self):
        def f():
            self.is_cut = True
            for c in list(self.conns):
                c.abort()
        self._loop.call(f)

    def heal(self):
        def f():
            self.is_cut = False
        self._loop.call(f)

    def set_delay(self, ms):
        def f():
            self.delay_ms = max(0, int(ms))
        self._loop.call(f)

    def set_throttle(self, bytes_per_second):
        def f():
            self.throttle = int(bytes_per_second) if bytes_per_second else None
        self._loop.call(f)

    def pause(self, direction):
        assert direction in DIRECTIONS, direction

        def f():
            self.paused.add(direction)
            self.gates[direction].close()
        self._loop.call(f)

    def resume(self, direction):
        assert direction in DIRECTIONS, direction

        def f():
            self.paused.discard(direction)
            self.gates[direction].open()
        self._loop.call(f)

    def clear(self):
        def f():
            self.is_cut = False
            self.delay_ms = 0
            self.throttle = None
            self.paused.clear()
            for g in self.gates.values():
                g.open()
        self._loop.call(f)

    def healthy(self):
        return not self.is_cut and not self.delay_ms and not self.throttle and not self.paused

    def open_connections(self):
        return self._loop.call(lambda: len(self.conns))

    def describe(self):
        parts = []
        if self.is_cut:
            parts.append("cut")
        if self.delay_ms:
            parts.append("delay=%dms" % self.delay_ms)
        if self.throttle:
            parts.append("throttle=%dB/s" % self.throttle)
        for d in sorted(self.paused):
            parts.append("paused:" + d)
        return ",".join(parts) or "ok"

    def close(self):
        async def f():
            for c in list(self.conns):
                c.abort()
            if self._server is not None:
                self._server.close()
        try:
            self._loop.call(f, timeout=5)
        except Exception:
            pass
