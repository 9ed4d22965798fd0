"""Acknowledging after the flood (docs/PROTOCOL.md): an IAMAT that changes the store is
answered only once its flood is written on every link that is up, or the link went down,
or FLOOD_WAIT passed. Driven through Conn's protocol callbacks with in-memory transports,
so a link's socket can be made "full" (pause_writing) at will."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from herd_asyncio import config, server  # noqa: E402
from herd_asyncio.log import Log  # noqa: E402

HERD = {
    "herd": {"key": "k"},
    "places": {"base_url": "http://127.0.0.1:9", "key": "p"},
    "server": [
        {"name": "A", "addr": "127.0.0.1:12001", "neighbours": ["B"]},
        {"name": "B", "addr": "127.0.0.1:12002", "neighbours": ["A"]},
    ],
}


class Transport:
    """What Conn uses of an asyncio transport; `sent` is what reached the "kernel"."""

    def __init__(self):
        self.sent = bytearray()
        self.closed = False

    def write(self, data):
        self.sent += data

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def get_extra_info(self, name):
        return ("127.0.0.1", 40000)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True


async def herd():
    """Server A with a link up to B and one client connection."""
    node = server.Node(config.validate(HERD, "t"), "A", Log("A"))
    link = server.Conn(node)
    link.connection_made(Transport())
    link._become_link("B")
    client = server.Conn(node)
    client.connection_made(Transport())
    return node, link, client


async def turn():
    """Lets callbacks scheduled with call_soon run."""
    for _ in range(3):
        await asyncio.sleep(0)


class AckAfterFlood(unittest.TestCase):
    def test_reply_waits_for_a_full_link_and_follows_its_write(self):
        async def case():
            _, link, client = await herd()
            link.pause_writing()  # B's socket buffer is full
            client.data_received(b"IAMAT c +1+1 1\nIAMAT d +2+2 1\n")
            await turn()
            self.assertEqual(client.transport.sent, b"", "acknowledged before the flood left")
            self.assertNotIn(b" c +1+1 1", link.transport.sent)
            link.resume_writing()
            await turn()
            self.assertIn(b" c +1+1 1\n", link.transport.sent)
            self.assertIn(b" d +2+2 1\n", link.transport.sent)
            replies = bytes(client.transport.sent).splitlines()
            self.assertEqual([r.split()[3] for r in replies], [b"c", b"d"])

        asyncio.run(case())

    def test_reply_with_a_free_link_leaves_after_one_write(self):
        async def case():
            _, link, client = await herd()
            client.data_received(b"IAMAT c +1+1 1\n")
            self.assertEqual(client.transport.sent, b"")  # the flood is written on the next turn
            await turn()
            self.assertIn(b" c +1+1 1\n", link.transport.sent)
            self.assertTrue(client.transport.sent.startswith(b"AT A "))

        asyncio.run(case())

    def test_a_link_that_goes_down_releases_the_reply(self):
        async def case():
            _, link, client = await herd()
            link.pause_writing()
            client.data_received(b"IAMAT c +1+1 1\n")
            await turn()
            self.assertEqual(client.transport.sent, b"")
            link.drop("test")
            await turn()
            self.assertTrue(client.transport.sent.startswith(b"AT A "))

        asyncio.run(case())

    def test_a_stuck_link_holds_the_reply_for_flood_wait_only(self):
        async def case():
            _, link, client = await herd()
            link.pause_writing()
            client.data_received(b"IAMAT c +1+1 1\n")
            await asyncio.sleep(0.05)
            self.assertEqual(client.transport.sent, b"")
            await asyncio.sleep(0.2)
            self.assertTrue(client.transport.sent.startswith(b"AT A "))

        wait = server.FLOOD_WAIT
        server.FLOOD_WAIT = 0.1
        try:
            asyncio.run(case())
        finally:
            server.FLOOD_WAIT = wait

    def test_stale_and_invalid_lines_wait_for_nothing(self):
        async def case():
            node, link, client = await herd()
            client.data_received(b"IAMAT c +1+1 5\n")
            await turn()
            link.pause_writing()
            client.transport.sent.clear()
            client.data_received(b"IAMAT c +1+1 4\nbogus\n")
            self.assertEqual(client.transport.sent.count(b"\n"), 2)

        asyncio.run(case())


if __name__ == "__main__":
    unittest.main()
