"""One herd server on one asyncio event loop: client connections, peer links, places calls.

Every socket is an `asyncio.Protocol` (callbacks, no stream objects and no task per
connection): a connection reads into a LineBuffer and answers all complete lines with one
write. A WHATSAT is the only thing that waits; it runs as a task while the connection
stops consuming lines, so replies stay in request order. The event loop is single-threaded,
so the Node's state needs no lock. Backpressure: a client we cannot write to is not read
further; a peer link buffers at most `limits.peer_queue` lines while its socket is full and
is reset past that (anti-entropy repairs it when it comes back).

Acknowledging an update (docs/PROTOCOL.md): an IAMAT that changes the store is answered only
once its flood lines have been handed to the kernel on every link that was up, or those links
went down, or `FLOOD_WAIT` passed. Each link numbers the lines queued on it and knows how far
it has written: its transport buffers nothing (write buffer limits of zero), so a write that
leaves the link unpaused, or a `resume_writing`, means every line handed to it is written.
A client connection holding replies reads no further lines until they are released.

A client that does not read its replies (docs/PROTOCOL.md): its transport pauses writing
once its buffer passes the high-water mark, which starts a `WRITE_STALL` timer; the buffer
draining (`resume_writing`) stops it, and the timer firing drops the connection, as the Rust
shells drop a client whose one write waits that long (herd-shell's stall.rs).
"""

import asyncio
import collections
import time

from .protocol import (
    BUSY_REPLY,
    MAX_LINE_BYTES,
    MAX_PEER_LINE_BYTES,
    Invalid,
    LineBuffer,
    LineTooLong,
    PlacesFailure,
    ResponseReader,
    error_json,
    escape,
    hello_line,
    invalid_reply,
    json_for,
    parse_command,
    parse_record,
    places_request,
    record_from_iamat,
    timed_out,
    unreachable,
    whatsat_reply,
)

STORED, STALE, FULL = "stored", "stale", "store full"
HANDSHAKE_TIMEOUT = 5.0
FLOOD_WAIT = 2.0
WRITE_STALL = 10.0  # seconds, as herd-shell's stall.rs
FIRST_RETRY_MS, MAX_RETRY_MS = 100, 2_000
REPLACED = "link replaced, reset or unwritable"


def reconnect_delay_ms(attempt):
    return min(FIRST_RETRY_MS << min(attempt, 16), MAX_RETRY_MS)


class HandshakeError(Exception):
    pass


class Node:
    """What one server knows: its store, its neighbours and which links are up."""

    def __init__(self, config, name, log):
        me = config["servers"][name]
        self.name = name
        self.key = config["key"]
        self.anti_entropy = config.get("anti_entropy", True)
        self.hello = hello_line(name, self.key)
        self.log = log
        self.neighbours = {n: config["servers"][n]["addr"] for n in me["neighbours"]}
        self.links = {}
        self.store = {}
        limits = config["limits"]
        self.max_clients = limits["max_clients"]
        self.max_connections = limits["max_connections"]
        self.peer_queue = limits["peer_queue"]
        places = config["places"]
        self.places_addr = places["endpoint"][:2]
        self.places_authority, self.places_prefix = places["endpoint"][2:]
        self.places_key = places["key"]
        self.places_timeout_ms = places["timeout_ms"]
        self.open = 0
        self._next_conn = 0

    def conn_id(self):
        self._next_conn += 1
        return self._next_conn

    def dials(self):
        """Neighbours this server dials: those whose name sorts after its own (byte order)."""
        mine = self.name.encode()
        return [(n, a) for n, a in self.neighbours.items() if mine < n.encode()]

    def offer(self, record):
        held = self.store.get(record.client)
        if held is None:
            if len(self.store) >= self.max_clients:
                return FULL
        elif record.time <= held.time:
            return STALE
        self.store[record.client] = record
        return STORED

    def flood(self, record, source=None):
        """Queues the record on every link but `source`; returns (link, line number) pairs."""
        queued = []
        for peer, link in list(self.links.items()):
            if peer != source:
                seq = link.send_news(record.wire)
                if seq is not None:
                    queued.append((link, seq))
        return queued

    def check_hello(self, server, key):
        """None if `server` may link with this key, else why not."""
        if server not in self.neighbours:
            return f"{server!r} is not a neighbour of this server"
        if key != self.key:
            return f"wrong herd key from {server!r}"
        return None

    def link_up(self, peer, conn):
        """Makes `conn` the link to `peer` (replacing an older one); returns the snapshot."""
        old = self.links.get(peer)
        self.links[peer] = conn
        if old is not None and old is not conn:
            old.drop(REPLACED)
        if not self.anti_entropy:
            return b""
        return b"".join(r.wire for r in self.store.values())

    def link_down(self, peer, conn):
        if self.links.get(peer) is conn:
            del self.links[peer]


class PlacesConnection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection to the places service."""

    def __init__(self):
        self.transport = None
        self.waiter = None
        self.reader = None
        self.lost = False

    def connection_made(self, transport):
        self.transport = transport

    def request(self, data):
        self.reader = ResponseReader()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data):
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            response = self.reader.feed(data)
        except PlacesFailure as failure:
            waiter.set_exception(failure)
            return
        if response is not None:
            waiter.set_result(response)

    def connection_lost(self, exc):
        self.lost = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if exc is not None:
            waiter.set_exception(unreachable(exc))
            return
        try:
            waiter.set_result(self.reader.finish_at_eof())
        except PlacesFailure as failure:
            waiter.set_exception(failure)

    def close(self):
        if self.transport is not None:
            self.transport.close()


class Places:
    """A client connection's places calls: one connection, kept alive, retried once if reused."""

    def __init__(self, node):
        self.node = node
        self.conn = None

    async def call(self, request):
        node = self.node
        while True:
            reused = self.conn is not None and not self.conn.lost
            try:
                async with asyncio.timeout(node.places_timeout_ms / 1000):
                    status, body, keep_alive = await self._attempt(request)
            except TimeoutError:
                failure = timed_out(node.places_timeout_ms)
            except PlacesFailure as f:
                failure = f
            else:
                if not keep_alive:
                    self.close()
                return status, body
            self.close()
            if not (reused and failure.retryable):
                raise failure

    async def _attempt(self, request):
        if self.conn is None or self.conn.lost:
            loop = asyncio.get_running_loop()
            try:
                _, self.conn = await loop.create_connection(PlacesConnection, *self.node.places_addr)
            except OSError as e:
                raise unreachable(e) from None
        return await self.conn.request(request)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Conn(asyncio.Protocol):
    """A TCP connection: a client's, or a peer link (accepted, or dialled by `dial`)."""

    def __init__(self, node, dial_peer=None, ready=None):
        self.node = node
        self.dial_peer = dial_peer  # a connection we dialled, until the peer's HELLO
        self.ready = ready
        self.peer = None  # set once this connection is a link
        self.id = node.conn_id()
        self.lines = LineBuffer()
        self.out = bytearray()
        self.transport = None
        self.call = None
        self.places = None
        self.paused = False
        self.reading = True
        self.eof = False
        self.closed = False
        self.counted = False
        self.reason = None
        self.queue = None
        self.flush_scheduled = False
        # A link: lines queued on it, handed to its transport, and written to the kernel.
        self.queued = self.handed = self.written = 0
        self.waiters = set()  # client connections whose replies wait for this link
        # A client: the line numbers its replies wait for, per link, and what runs once
        # they are written (or FLOOD_WAIT passes).
        self.waits = {}
        self.on_floods = None
        self.flood_timer = None
        self.stall_timer = None  # a client whose writing is paused: when to drop it
        self.done = asyncio.get_running_loop().create_future()

    # --- transport callbacks

    def connection_made(self, transport):
        self.transport = transport
        node = self.node
        if self.dial_peer is not None:
            transport.write(node.hello)
            return
        peer = transport.get_extra_info("peername")
        if node.open >= node.max_connections:
            if node.log.enabled:
                node.log.event(f"refused {_addr(peer)}: {node.max_connections} connections open")
            self.closed = True
            transport.write(BUSY_REPLY)
            transport.close()
            return
        node.open += 1
        self.counted = True
        if node.log.enabled:
            node.log.event(f"conn {self.id} accepted from {_addr(peer)}")

    def data_received(self, data):
        if self.closed:
            return
        self.lines.extend(data)
        if self.peer is not None:
            self._peer_lines()
        elif self.dial_peer is not None:
            self._hello_reply()
        else:
            self._pump()

    def eof_received(self):
        if self.peer is not None or self.dial_peer is not None:
            self.reason = "peer closed"
            return False
        self.eof = True
        self._pump()
        return True

    def pause_writing(self):
        self.paused = True
        if self.peer is None and self.dial_peer is None and self.stall_timer is None:
            self.stall_timer = asyncio.get_running_loop().call_later(WRITE_STALL, self._stalled)

    def resume_writing(self):
        self.paused = False
        self._stop_stall_timer()
        if self.peer is not None:
            # The buffer is empty: everything handed over is in the kernel.
            self.written = self.handed
            if self.out or self.queue:
                data = bytes(self.out) + b"".join(self.queue)
                self.out = bytearray()
                self.queue.clear()
                self._write_news(data)
            self._progress()
        elif not self.closed:
            self._pump()

    def connection_lost(self, exc):
        self.closed = True
        node = self.node
        self._stop_stall_timer()
        self._unhold()
        self._progress()
        if self.counted:
            node.open -= 1
        if self.call is not None:
            self.call.cancel()
        if self.places is not None:
            self.places.close()
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(HandshakeError("closed during handshake"))
        if self.peer is not None:
            node.link_down(self.peer, self)
            if node.log.enabled:
                node.log.event(f"link to {self.peer} down: {self.reason or 'peer closed'}")
        elif self.counted and node.log.enabled:
            node.log.event(f"conn {self.id} closed: {self.reason or 'client closed'}")
        if not self.done.done():
            self.done.set_result(None)

    # --- client connections

    def _stop_stall_timer(self):
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None

    def _stalled(self):
        """A client left its replies unread for WRITE_STALL: dropped, with what it had not
        taken (its slot and descriptor are freed; nothing else waited for it)."""
        self.stall_timer = None
        if not self.paused:
            return
        # Also when closing: a close waits for the buffer to drain, which it never would.
        self.reason = f"replies not read for {WRITE_STALL:g} s"
        self.closed = True
        self.transport.abort()

    def _pump(self):
        """Answers complete lines until one needs the places service or the socket is full."""
        lines = self.lines
        log = self.node.log
        while self.call is None and not self.paused and not self.closed and self.on_floods is None:
            try:
                line = lines.next_line()
            except LineTooLong:
                self._close("line too long")
                return
            if line is None:
                break
            if log.enabled:
                log.event(f"conn {self.id} in: {escape(line)}")
            self._client_line(line)
            if self.peer is not None:
                return
        if self.closed:
            return
        # A places call flushes before it starts; held replies leave when released.
        if self.call is None and self.on_floods is None:
            if self._floods_pending():
                self._hold(self._pump)
            else:
                self._flush()
        busy = self.call is not None or self.paused or self.on_floods is not None
        if not busy and self.eof:
            self._close("client closed")
        elif busy and self.reading and lines.pending() > MAX_LINE_BYTES:
            self.transport.pause_reading()
            self.reading = False
        elif not busy and not self.reading:
            self.transport.resume_reading()
            self.reading = True

    def _client_line(self, line):
        node = self.node
        try:
            command = parse_command(line)
        except Invalid:
            self.out += invalid_reply(line)
            return
        if command is None:
            return
        verb = command[0]
        if verb == "IAMAT":
            _, client, location, text, nanos, query = command
            record = record_from_iamat(
                node.name, time.time_ns(), client, location, text, nanos, query
            )
            outcome = node.offer(record)
            if outcome is FULL:
                self.out += invalid_reply(line)
                return
            if outcome is STORED:
                waits = self.waits
                for link, seq in node.flood(record):
                    waits[link] = seq
            self.out += record.wire
        elif verb == "WHATSAT":
            record = node.store.get(command[1])
            if record is None:
                self.out += invalid_reply(line)
                return
            self.call = asyncio.get_running_loop().create_task(
                self._whatsat(record, command[2], command[3])
            )
        else:
            error = node.check_hello(command[1], command[2])
            if error is not None:
                self._close(error)
                return
            self.out += node.hello
            self._flush()
            self._become_link(command[1])

    async def _whatsat(self, record, metres, bound):
        node = self.node
        if self._floods_pending():
            # Replies already due leave before the places call, once their floods have.
            released = asyncio.get_running_loop().create_future()
            self._hold(lambda: released.done() or released.set_result(None))
            await released
            if self.closed:
                return
        self._flush()
        request = places_request(
            node.places_authority, node.places_prefix, node.places_key, record.query, metres
        )
        if self.places is None:
            self.places = Places(node)
        try:
            status, body = await self.places.call(request)
            answer = json_for(status, body, bound)
        except PlacesFailure as failure:
            if node.log.enabled:
                node.log.event(f"conn {self.id} places call failed: {failure}")
            answer = error_json("UNKNOWN_ERROR", str(failure))
        self.call = None
        if self.closed:
            return
        self.out += whatsat_reply(record.wire, answer)
        self._pump()

    def _flush(self):
        if not self.out:
            return
        data, self.out = self.out, bytearray()
        log = self.node.log
        if log.enabled:
            first = bytes(data[: data.find(b"\n")]) if b"\n" in data else bytes(data)
            log.event(f"conn {self.id} out ({len(data)} bytes): {escape(first)}")
        self.transport.write(data)

    def _close(self, reason):
        """Writes the replies already due (once their floods are written), then closes."""
        if self.on_floods is not None:
            self.on_floods = lambda: self._close(reason)
            return
        if self._floods_pending():
            self._hold(lambda: self._close(reason))
            return
        self._flush()
        self.reason = reason
        self.closed = True
        self.transport.close()

    # --- acknowledging after the flood

    def _floods_pending(self):
        """True while some link this connection's replies wait for has not written them."""
        waits = self.waits
        for link, seq in list(waits.items()):
            if link.closed or link.written >= seq:
                del waits[link]
                link.waiters.discard(self)
        return bool(waits)

    def _hold(self, then):
        """Runs `then` once the floods are written, or after FLOOD_WAIT at the latest."""
        self.on_floods = then
        for link in self.waits:
            link.waiters.add(self)
        self.flood_timer = asyncio.get_running_loop().call_later(FLOOD_WAIT, self._flood_timeout)

    def _unhold(self):
        for link in self.waits:
            link.waiters.discard(self)
        self.waits.clear()
        if self.flood_timer is not None:
            self.flood_timer.cancel()
            self.flood_timer = None
        then, self.on_floods = self.on_floods, None
        return then

    def _floods_progress(self):
        """A link this connection waits for wrote, or went down."""
        if self.on_floods is not None and not self._floods_pending():
            self._unhold()()

    def _flood_timeout(self):
        self.flood_timer = None
        if self.node.log.enabled:
            stuck = sum(1 for link, seq in self.waits.items() if not link.closed and link.written < seq)
            self.node.log.event(
                f"conn {self.id} replies sent before their floods were written ({stuck} links stuck)"
            )
        then = self._unhold()
        if then is not None:
            then()

    # --- peer links

    def _hello_reply(self):
        try:
            line = self.lines.next_line()
        except LineTooLong:
            line = b""
        if line is None:
            return
        expected = self.dial_peer
        try:
            command = parse_command(line)
        except Invalid:
            command = None
        if command is None or command[0] != "HELLO":
            error = "expected `HELLO <server> <key>`"
        elif command[1] != expected:
            error = f"expected a HELLO from {expected!r}, got one from {command[1]!r}"
        else:
            error = self.node.check_hello(command[1], command[2])
        if error is not None:
            self.ready.set_exception(HandshakeError(error))
            self.closed = True
            self.transport.abort()
            return
        self.ready.set_result(None)
        self._become_link(expected)

    def _become_link(self, peer):
        node = self.node
        self.peer = peer
        self.dial_peer = None
        self._stop_stall_timer()
        self.lines.limit = MAX_PEER_LINE_BYTES
        self.queue = collections.deque()
        # Nothing waits in the transport's buffer: what does not fit the kernel pauses the
        # link at once, so "not paused" means "written" (see the module's docstring).
        self.transport.set_write_buffer_limits(high=0, low=0)
        snapshot = node.link_up(peer, self)
        if node.log.enabled:
            node.log.event(f"link to {peer} up (conn {self.id})")
        if snapshot:
            self.transport.write(snapshot)
        if not self.reading:
            self.transport.resume_reading()
            self.reading = True
        self._peer_lines()

    def _peer_lines(self):
        node = self.node
        peer = self.peer
        log = node.log
        while not self.closed:
            try:
                line = self.lines.next_line()
            except LineTooLong:
                self.drop("line too long")
                return
            if line is None:
                return
            try:
                record = parse_record(line)
            except Invalid:
                outcome = "invalid"
            else:
                outcome = node.offer(record)
                if outcome is STORED:
                    node.flood(record, peer)
            if log.enabled:
                log.event(f"from {peer} ({outcome}): {escape(line)}")

    def send_news(self, wire):
        """Queues an AT line for this link and returns its line number, or None if the link
        is closed or was reset for falling too far behind."""
        if self.closed:
            return None
        if self.paused:
            if len(self.queue) >= self.node.peer_queue:
                if self.node.log.enabled:
                    self.node.log.event(f"link to {self.peer} fell too far behind; resetting it")
                self.node.link_down(self.peer, self)
                self.drop(REPLACED)
                return None
            self.queue.append(wire)
        else:
            self.out += wire
            if not self.flush_scheduled:
                self.flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_news)
        self.queued += 1
        return self.queued

    def _flush_news(self):
        """News flooded during one turn of the loop goes out in one write. A paused link
        leaves it for `resume_writing`, which writes it before the queue, in order."""
        self.flush_scheduled = False
        if self.out and not self.closed and not self.paused:
            data, self.out = self.out, bytearray()
            self._write_news(data)
            self._progress()

    def _write_news(self, data):
        """Writes every line queued so far; unpaused after the write, they are all written."""
        self.handed = self.queued
        self.transport.write(data)
        if not self.paused:
            self.written = self.handed

    def _progress(self):
        """Tells the client connections waiting for this link that it wrote or went down."""
        if self.waiters:
            for waiter in list(self.waiters):
                waiter._floods_progress()

    def drop(self, reason):
        """Ends a link at once, discarding what it had not sent."""
        self.reason = reason
        self.closed = True
        self.transport.abort()
        self._progress()


def _addr(peer):
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(peer)


async def dial(node, peer, addr):
    """Keeps the link to `peer` up: dial, HELLO exchange, run until it drops, again."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        conn = None
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                ready = loop.create_future()
                _, conn = await loop.create_connection(
                    lambda: Conn(node, dial_peer=peer, ready=ready), *addr
                )
                await ready
        except (OSError, TimeoutError, HandshakeError) as e:
            if conn is not None and not conn.closed:
                conn.closed = True
                conn.transport.abort()
            delay = reconnect_delay_ms(attempt)
            if node.log.enabled:
                error = "handshake timed out" if isinstance(e, TimeoutError) else str(e)
                node.log.event(f"dial {peer} failed: {error}; retry in {delay} ms")
            attempt += 1
            await asyncio.sleep(delay / 1000)
            continue
        attempt = 0
        await conn.done
