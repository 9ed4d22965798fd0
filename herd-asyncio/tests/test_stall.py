"""A client that does not read its replies is dropped once its writing has been paused for
WRITE_STALL (docs/PROTOCOL.md); a client that reads again in time, and the peer links, are
not. The first cases drive Conn's callbacks; the last runs a real server on port 0."""

import asyncio
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from herd_asyncio import config, server  # noqa: E402
from herd_asyncio.log import Log  # noqa: E402
from test_ack import HERD, Transport, herd  # noqa: E402

SHORT = 0.05  # WRITE_STALL in these tests, seconds
LIMIT = 10.0  # how long a test waits for what must happen


class AbortSeen(Transport):
    """A transport whose abort resolves a future."""

    def __init__(self, aborted):
        super().__init__()
        self.aborted = aborted

    def abort(self):
        super().abort()
        if not self.aborted.done():
            self.aborted.set_result(None)


def with_stall(seconds, case):
    saved = server.WRITE_STALL
    server.WRITE_STALL = seconds
    try:
        asyncio.run(case())
    finally:
        server.WRITE_STALL = saved


class WriteStall(unittest.TestCase):
    def test_a_client_paused_for_write_stall_is_dropped(self):
        async def case():
            node = server.Node(config.validate(HERD, "t"), "A", Log("A"))
            aborted = asyncio.get_running_loop().create_future()
            client = server.Conn(node)
            client.connection_made(AbortSeen(aborted))
            client.pause_writing()
            await asyncio.wait_for(aborted, LIMIT)
            self.assertTrue(client.closed)
            self.assertIn("not read", client.reason)

        with_stall(SHORT, case)

    def test_reading_again_stops_the_clock(self):
        async def case():
            _, _, client = await herd()
            client.pause_writing()
            self.assertIsNotNone(client.stall_timer)
            timer = client.stall_timer
            client.resume_writing()
            self.assertIsNone(client.stall_timer)
            self.assertTrue(timer.cancelled())
            self.assertFalse(client.transport.closed)
            # Pausing again starts a new full WRITE_STALL, not the rest of the old one.
            client.pause_writing()
            self.assertIsNot(client.stall_timer, timer)
            client.connection_lost(None)
            self.assertIsNone(client.stall_timer)

        with_stall(60.0, case)

    def test_a_full_link_is_not_dropped_by_the_stall_clock(self):
        async def case():
            _, link, _ = await herd()
            link.pause_writing()
            self.assertIsNone(link.stall_timer)
            self.assertFalse(link.transport.closed)

        with_stall(SHORT, case)

    def test_a_real_non_reader_is_dropped_and_others_served(self):
        async def case():
            loop = asyncio.get_running_loop()
            node = server.Node(config.validate(HERD, "t"), "A", Log("A"))
            conns = []

            def factory():
                conn = server.Conn(node)
                conns.append(conn)
                return conn

            srv = await loop.create_server(factory, "127.0.0.1", 0)
            port = srv.sockets[0].getsockname()[1]
            hog = socket.socket()
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.setblocking(False)
            await loop.sock_connect(hog, ("127.0.0.1", port))
            # Invalid lines, each answered with a longer reply, until the server stops
            # reading: it cannot write, so the writes here block, then time out.
            line = b"BOGUS " + b"x" * 1000 + b"\n"
            try:
                while True:
                    await asyncio.wait_for(loop.sock_sendall(hog, line * 64), 2.0)
            except (TimeoutError, ConnectionError):
                pass
            first = conns[0]
            await asyncio.wait_for(first.done, LIMIT)
            self.assertIn("not read", first.reason)
            self.assertEqual(node.open, 0)
            # Another client is served.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"IAMAT polite +1+1 1\n")
            reply = await asyncio.wait_for(reader.readline(), LIMIT)
            self.assertTrue(reply.startswith(b"AT A "), reply)
            writer.close()
            hog.close()
            srv.close()

        with_stall(0.3, case)


if __name__ == "__main__":
    unittest.main()
