#!/usr/bin/env python3
"""Self-test of the fault proxy (no starling binary needed; a few seconds).

    python3 tests/cluster/test_proxy.py
"""

import os
import socket
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from proxy import Proxy, ProxyLoop  # noqa: E402


class EchoServer:
    """Echoes every byte back, one thread per connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _echo(self, c):
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                self.received += len(data)
                try:
                    c.sendall(data)
                except OSError:
                    return

    def close(self):
        self.sock.close()


def recv_exactly(s, n, timeout=5.0):
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def closed_by_peer(s, timeout=3.0):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class ProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.loop = ProxyLoop()

    @classmethod
    def tearDownClass(cls):
        cls.loop.close()

    def setUp(self):
        self.echo = EchoServer()
        self.proxy = Proxy(self.loop, "test", self.echo.port)

    def tearDown(self):
        self.proxy.close()
        self.echo.close()

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5)

    def test_forwards_both_ways(self):
        with self.connect() as s:
            s.sendall(b"hello" * 1000)
            self.assertEqual(recv_exactly(s, 5000), b"hello" * 1000)
        self.assertEqual(self.proxy.bytes["to_upstream"], 5000)

    def test_refuses_without_upstream(self):
        p = Proxy(self.loop, "no-upstream")
        try:
            with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
                self.assertTrue(closed_by_peer(s))
            p.set_upstream(self.echo.port)
            with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
                s.sendall(b"x")
                self.assertEqual(recv_exactly(s, 1), b"x")
        finally:
            p.close()

    def test_cut_closes_and_refuses_until_heal(self):
        s = self.connect()
        s.sendall(b"a")
        recv_exactly(s, 1)
        self.proxy.cut()
        self.assertTrue(closed_by_peer(s))
        s.close()
        with self.connect() as s2:
            self.assertTrue(closed_by_peer(s2))
        self.proxy.heal()
        with self.connect() as s3:
            s3.sendall(b"b")
            self.assertEqual(recv_exactly(s3, 1), b"b")

    def test_delay(self):
        with self.connect() as s:
            s.sendall(b"x")
            recv_exactly(s, 1)
            self.proxy.set_delay(150)
            t = time.monotonic()
            s.sendall(b"y")
            recv_exactly(s, 1)
            took = time.monotonic() - t
            self.assertGreaterEqual(took, 0.28)  # 150 ms each way
            self.assertLess(took, 2.0)

    def test_throttle(self):
        self.proxy.set_throttle(50000)
        with self.connect() as s:
            t = time.monotonic()
            s.sendall(b"z" * 50000)
            recv_exactly(s, 50000, timeout=10)
            took = time.monotonic() - t
            self.assertGreaterEqual(took, 0.8)  # 50 kB at 50 kB/s (both directions pipelined)
            self.assertLess(took, 5.0)

    def test_pause_one_direction(self):
        with self.connect() as s:
            self.proxy.pause("to_client")
            s.sendall(b"q")
            deadline = time.monotonic() + 3
            while self.echo.received < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertEqual(self.echo.received, 1)  # it went up...
            s.settimeout(0.3)
            with self.assertRaises(socket.timeout):  # ...but does not come back
                s.recv(1)
            self.proxy.resume("to_client")
            self.assertEqual(recv_exactly(s, 1), b"q")

    def test_clear(self):
        self.proxy.cut()
        self.proxy.set_delay(500)
        self.proxy.pause("to_upstream")
        self.assertFalse(self.proxy.healthy())
        self.proxy.clear()
        self.assertTrue(self.proxy.healthy())
        with self.connect() as s:
            t = time.monotonic()
            s.sendall(b"c")
            recv_exactly(s, 1)
            self.assertLess(time.monotonic() - t, 0.4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
