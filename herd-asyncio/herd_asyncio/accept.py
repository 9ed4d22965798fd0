"""The listening socket's accept loop, with the Rust shells' policy (herd-shell's accept.rs,
docs/PROTOCOL.md): after `accept` fails for want of descriptors, buffers or memory (EMFILE,
ENFILE, ENOBUFS, ENOMEM) the loop stops watching the socket for `RESOURCE_PAUSE` and then
goes on serving; the connections meanwhile wait in the kernel's backlog.

asyncio's own server (Python 3.11) answers EMFILE by logging a traceback and unwatching the
socket for a whole second, yet goes on calling accept up to `backlog` times in the same
turn, logging and scheduling a retry each time: at the descriptor limit that is a traceback
per queued connection per second and a new connection waits up to a second. uvloop's
(libuv's) sheds the waiting connections instead. This loop is the same on both.
"""

import asyncio
import errno
import socket

RESOURCE_ERRORS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
RESOURCE_PAUSE = 0.010  # seconds, as herd-shell's accept.rs
BATCH = 64  # accepts per turn of the loop at most, so connections already open get a turn


def listen(host, port, backlog):
    """A non-blocking listening socket on (host, port)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family = infos[0][0]
    addr = infos[0][4]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Acceptor:
    """Accepts on `sock` and hands each connection to the loop as a `factory()` protocol."""

    def __init__(self, sock, factory, log):
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.factory = factory
        self.log = log
        self.watching = False
        self.resume = None  # the timer that ends a pause
        self.starved = False  # the last accept failed for want of resources
        self.pauses = 0  # resource pauses so far
        self.closed = False

    def start(self):
        self._watch()

    def _watch(self):
        self.resume = None
        if not self.closed and not self.watching:
            self.loop.add_reader(self.sock.fileno(), self._ready)
            self.watching = True

    def _unwatch(self):
        if self.watching:
            self.loop.remove_reader(self.sock.fileno())
            self.watching = False

    def _ready(self):
        for _ in range(BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:
                if e.errno in RESOURCE_ERRORS:
                    self._pause(e)
                else:
                    # Retried when the socket is next ready (the next turn of the loop).
                    if self.log.enabled:
                        self.log.event(f"accept failed: {e}")
                return
            self.starved = False
            try:
                conn.setblocking(False)
            except OSError:
                conn.close()
                continue
            self.loop.create_task(self._connect(conn))

    def _pause(self, error):
        self.pauses += 1
        if not self.starved and self.log.enabled:
            self.log.event(
                f"accept failed: {error.strerror}; pausing {RESOURCE_PAUSE * 1000:g} ms "
                "between tries until it succeeds"
            )
        self.starved = True
        self._unwatch()
        self.resume = self.loop.call_later(RESOURCE_PAUSE, self._watch)

    async def _connect(self, conn):
        try:
            await self.loop.connect_accepted_socket(self.factory, conn)
        except OSError as e:
            conn.close()
            if self.log.enabled:
                self.log.event(f"accepted connection lost before it was set up: {e}")

    def close(self):
        self.closed = True
        self._unwatch()
        if self.resume is not None:
            self.resume.cancel()
            self.resume = None
        self.sock.close()
