"""The accept loop's policy (herd_asyncio/accept.py, docs/PROTOCOL.md): after EMFILE and the
like it tries again once per RESOURCE_PAUSE, not in a loop, and serves once accept works
again. A real listening socket on port 0 whose accept is made to fail a set number of times."""

import asyncio
import errno
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from herd_asyncio import accept  # noqa: E402
from herd_asyncio.log import Log  # noqa: E402

LIMIT = 10.0  # how long a test waits for what must happen


class Failing:
    """A listening socket whose first `fail` accepts fail with `code`."""

    def __init__(self, sock, fail, code):
        self.sock = sock
        self.fail = fail
        self.code = code
        self.failed = 0
        self.accepted = 0

    def fileno(self):
        return self.sock.fileno()

    def accept(self):
        if self.failed < self.fail:
            self.failed += 1
            raise OSError(self.code, os.strerror(self.code))
        pair = self.sock.accept()
        self.accepted += 1
        return pair

    def getsockname(self):
        return self.sock.getsockname()

    def close(self):
        self.sock.close()


class Greeter(asyncio.Protocol):
    def __init__(self, made):
        self.made = made

    def connection_made(self, transport):
        transport.write(b"hi\n")
        if not self.made.done():
            self.made.set_result(transport)


async def serve_through(fail, code):
    """Accepts one client through a socket failing `fail` times; returns (listener, seconds)."""
    loop = asyncio.get_running_loop()
    made = loop.create_future()
    listener = Failing(accept.listen("127.0.0.1", 0, 16), fail, code)
    acceptor = accept.Acceptor(listener, lambda: Greeter(made), Log("A"))
    port = listener.getsockname()[1]
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acceptor.start()
    try:
        await asyncio.wait_for(made, LIMIT)
        line = await asyncio.wait_for(reader.readline(), LIMIT)
        assert line == b"hi\n", line
        return listener, acceptor, time.monotonic() - start
    finally:
        writer.close()
        acceptor.close()


class AcceptPolicy(unittest.TestCase):
    def test_resource_errors_pause_instead_of_spinning(self):
        for code in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            listener, acceptor, took = asyncio.run(serve_through(5, code))
            self.assertEqual(listener.failed, 5)
            self.assertEqual(listener.accepted, 1)
            # One try per pause: five failures cost five pauses, not one turn of the loop.
            self.assertEqual(acceptor.pauses, 5)
            self.assertGreaterEqual(took, 5 * accept.RESOURCE_PAUSE)
            self.assertFalse(acceptor.starved)

    def test_other_errors_do_not_pause(self):
        listener, acceptor, _ = asyncio.run(serve_through(3, errno.EPERM))
        self.assertEqual(listener.failed, 3)
        self.assertEqual(listener.accepted, 1)
        self.assertEqual(acceptor.pauses, 0)

    def test_listen_binds_a_free_port(self):
        sock = accept.listen("127.0.0.1", 0, 8)
        try:
            self.assertNotEqual(sock.getsockname()[1], 0)
            self.assertFalse(sock.getblocking())
            self.assertEqual(sock.type, socket.SOCK_STREAM)
        finally:
            sock.close()


if __name__ == "__main__":
    unittest.main()
