'use strict';
// One herd server in one Node.js process: client connections, peer links, places calls.
//
// Every socket is a `net.Socket` driven by its events. A connection reads into a
// LineBuffer and answers all complete lines with one write; a WHATSAT is the only thing
// that waits, and while its places call runs the connection consumes no further lines, so
// replies stay in request order. Backpressure: a client we cannot write to is not read
// further; a peer link buffers at most `limits.peer_queue` lines while its socket is full and
// is reset past that (anti-entropy repairs it when it comes back). One thread runs all of
// it, so the Node's state needs no lock.
//
// Acknowledging an update (docs/PROTOCOL.md): an IAMAT that changes the store is answered
// only once its flood lines have been handed to the kernel on every link that was up, or
// those links went down, or FLOOD_WAIT passed. Each link numbers the lines queued on it and
// learns from its write callbacks how far it has written; a client connection holding
// replies reads no further lines until they are released.
//
// A client that does not read its replies (docs/PROTOCOL.md): a write that leaves its socket
// above the high-water mark starts a WRITE_STALL timer, 'drain' stops it, and the timer
// firing destroys the socket, as the Rust shells drop a client whose one write waits that
// long (herd-shell's stall.rs).

const net = require('node:net');
const {
  BUSY_REPLY, MAX_LINE_BYTES, MAX_PEER_LINE_BYTES, Invalid, LineBuffer, LineTooLong, errorJson, escape,
  helloLine, invalidReply, jsonFor, parseCommand, parseRecord, placesPath,
  recordFromIamat, whatsatReply,
} = require('./protocol');
const { Places } = require('./places');

const STORED = 'stored';
const STALE = 'stale';
const FULL = 'store full';
const HANDSHAKE_TIMEOUT_MS = 5000;
const FLOOD_WAIT_MS = 2000;
const WRITE_STALL_MS = 10000;
const REPLACED = 'link replaced, reset or unwritable';

const reconnectDelayMs = (attempt) => Math.min(100 * 2 ** Math.min(attempt, 16), 2000);
const showAddr = (host, port) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** What one server knows: its store, its neighbours and which links are up. */
class Node {
  constructor(config, name, log, clock) {
    const me = config.servers.get(name);
    this.name = name;
    this.writeStallMs = WRITE_STALL_MS; // how long a client's full socket is borne
    this.key = config.key;
    this.antiEntropy = config.antiEntropy ?? true;
    this.hello = helloLine(name, config.key);
    this.log = log;
    this.clock = clock;
    this.neighbours = new Map(me.neighbours.map((n) => [n, config.servers.get(n).addr]));
    this.links = new Map();
    this.store = new Map();
    this.limits = config.limits;
    this.places = config.places;
    this.open = 0;
    this.nextConn = 0;
  }

  connId() {
    this.nextConn += 1;
    return this.nextConn;
  }

  /** Neighbours this server dials: those whose name sorts after its own, in byte order. */
  dials() {
    const mine = Buffer.from(this.name);
    return [...this.neighbours].filter(([n]) => Buffer.compare(mine, Buffer.from(n)) < 0);
  }

  offer(record) {
    const held = this.store.get(record.client);
    if (held === undefined) {
      if (this.store.size >= this.limits.max_clients) return FULL;
    } else if (record.time <= held.time) {
      return STALE;
    }
    this.store.set(record.client, record);
    return STORED;
  }

  /** Queues the record on every link but `source`; returns [link, line number] pairs. */
  flood(record, source = null) {
    const queued = [];
    for (const [peer, link] of [...this.links]) {
      if (peer !== source) {
        const seq = link.sendNews(record.wire);
        if (seq !== null) queued.push([link, seq]);
      }
    }
    return queued;
  }

  /** null if `server` may link with this key, else why not. */
  checkHello(server, key) {
    if (!this.neighbours.has(server)) return `${JSON.stringify(server)} is not a neighbour of this server`;
    if (key !== this.key) return `wrong herd key from ${JSON.stringify(server)}`;
    return null;
  }

  /** Makes `conn` the link to `peer` (replacing an older one); returns the snapshot. */
  linkUp(peer, conn) {
    const old = this.links.get(peer);
    this.links.set(peer, conn);
    if (old !== undefined && old !== conn) old.drop(REPLACED);
    if (!this.antiEntropy) return Buffer.alloc(0);
    return Buffer.concat([...this.store.values()].map((r) => r.wire));
  }

  linkDown(peer, conn) {
    if (this.links.get(peer) === conn) this.links.delete(peer);
  }
}

/** A TCP connection: a client's, or a peer link (accepted, or dialled by `dial`). */
class Conn {
  constructor(node, socket, { dialPeer = null, onReady = null } = {}) {
    this.node = node;
    this.socket = socket;
    this.dialPeer = dialPeer; // a connection we dialled, until the peer's HELLO
    this.onReady = onReady;
    this.peer = null; // set once this connection is a link
    this.id = node.connId();
    this.lines = new LineBuffer();
    this.out = [];
    this.calling = false;
    this.places = null;
    this.paused = false;
    this.reading = true;
    this.eof = false;
    this.closed = false;
    this.counted = false;
    this.reason = null;
    this.queue = [];
    this.flushScheduled = false;
    // A link: lines queued on it and lines its write callbacks say were written.
    this.queued = 0;
    this.written = 0;
    this.waiters = new Set(); // client connections whose replies wait for this link
    // A client: the line numbers its replies wait for, per link, and what runs once they
    // are written (or FLOOD_WAIT passes).
    this.waits = new Map();
    this.onFloods = null;
    this.floodTimer = null;
    this.stallTimer = null; // a client whose socket stays full: when to drop it
    this.done = new Promise((resolve) => { this.finish = resolve; });
    socket.setNoDelay(true);
    socket.on('data', (data) => this.onData(data));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.onDrain());
    socket.on('error', (e) => { this.reason ??= e.message; });
    socket.on('close', () => this.onClose());
  }

  /** An accepted connection: refused past the connection limit. */
  accept() {
    const { node, socket } = this;
    const from = showAddr(socket.remoteAddress ?? '?', socket.remotePort);
    if (node.open >= node.limits.max_connections) {
      if (node.log.enabled) node.log.event(`refused ${from}: ${node.limits.max_connections} connections open`);
      this.closed = true;
      socket.end(BUSY_REPLY);
      return;
    }
    node.open += 1;
    this.counted = true;
    if (node.log.enabled) node.log.event(`conn ${this.id} accepted from ${from}`);
  }

  onData(data) {
    if (this.closed) return;
    this.lines.extend(data);
    if (this.peer !== null) this.peerLines();
    else if (this.dialPeer !== null) this.helloReply();
    else this.pump();
  }

  onEnd() {
    if (this.peer !== null || this.dialPeer !== null) {
      this.reason ??= 'peer closed';
      this.socket.end();
      return;
    }
    this.eof = true;
    if (!this.closed) this.pump();
  }

  onDrain() {
    this.paused = false;
    this.stopStallTimer();
    if (this.peer !== null) {
      if (this.out.length || this.queue.length) {
        const data = Buffer.concat([...this.out, ...this.queue]);
        this.out = [];
        this.queue = [];
        this.writeNews(data);
      }
    } else if (!this.closed) {
      this.pump();
    }
  }

  onClose() {
    const { node } = this;
    this.closed = true;
    this.stopStallTimer();
    this.unhold();
    this.progress();
    if (this.counted) node.open -= 1;
    if (this.places !== null) this.places.close();
    if (this.onReady !== null) {
      this.onReady(new Error(this.reason ?? 'closed during handshake'));
      this.onReady = null;
    }
    if (this.peer !== null) {
      node.linkDown(this.peer, this);
      if (node.log.enabled) node.log.event(`link to ${this.peer} down: ${this.reason ?? 'peer closed'}`);
    } else if (this.counted && node.log.enabled) {
      node.log.event(`conn ${this.id} closed: ${this.reason ?? 'client closed'}`);
    }
    this.finish();
  }

  write(data) {
    if (this.socket.write(data)) return;
    this.paused = true;
    if (this.peer === null && this.dialPeer === null && this.stallTimer === null) {
      this.stallTimer = setTimeout(() => this.stalled(), this.node.writeStallMs);
    }
  }

  stopStallTimer() {
    if (this.stallTimer !== null) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
  }

  /**
   * A client left its replies unread for WRITE_STALL: dropped with what it had not taken
   * (also when closing, as ending waits for a drain that would never come).
   */
  stalled() {
    this.stallTimer = null;
    if (!this.paused) return;
    this.reason = `replies not read for ${this.node.writeStallMs / 1000} s`;
    this.closed = true;
    this.socket.destroy();
  }

  // --- client connections

  /** Answers complete lines until one needs the places service or the socket is full. */
  pump() {
    const { lines, node: { log } } = this;
    while (!this.calling && !this.paused && !this.closed && this.onFloods === null) {
      let line;
      try {
        line = lines.nextLine();
      } catch (e) {
        if (!(e instanceof LineTooLong)) throw e;
        this.close('line too long');
        return;
      }
      if (line === null) break;
      if (log.enabled) log.event(`conn ${this.id} in: ${escape(line)}`);
      this.clientLine(line);
      if (this.peer !== null) return;
    }
    if (this.closed) return;
    // A places call flushes before it starts; held replies leave when released.
    if (!this.calling && this.onFloods === null) {
      if (this.floodsPending()) this.hold(() => this.pump());
      else this.flush();
    }
    const busy = this.calling || this.paused || this.onFloods !== null;
    if (!busy && this.eof) {
      this.close('client closed');
    } else if (busy && this.reading && lines.pending() > MAX_LINE_BYTES) {
      this.socket.pause();
      this.reading = false;
    } else if (!busy && !this.reading) {
      this.socket.resume();
      this.reading = true;
    }
  }

  clientLine(line) {
    const { node } = this;
    let cmd;
    try {
      cmd = parseCommand(line);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      this.out.push(invalidReply(line));
      return;
    }
    if (cmd === null) return;
    if (cmd.verb === 'IAMAT') {
      const record = recordFromIamat(node.name, node.clock(), cmd);
      const outcome = node.offer(record);
      if (outcome === FULL) {
        this.out.push(invalidReply(line));
        return;
      }
      if (outcome === STORED) {
        for (const [link, seq] of node.flood(record)) this.waits.set(link, seq);
      }
      this.out.push(record.wire);
    } else if (cmd.verb === 'WHATSAT') {
      const record = node.store.get(cmd.client);
      if (record === undefined) {
        this.out.push(invalidReply(line));
        return;
      }
      this.calling = true;
      this.whatsat(record, cmd.metres, cmd.bound);
    } else {
      const error = node.checkHello(cmd.server, cmd.key);
      if (error !== null) {
        this.close(error);
        return;
      }
      this.out.push(node.hello);
      this.flush();
      this.becomeLink(cmd.server);
    }
  }

  async whatsat(record, metres, bound) {
    const { node } = this;
    const { endpoint, key, timeoutMs } = node.places;
    this.places ??= new Places(endpoint, timeoutMs);
    if (this.floodsPending()) {
      // Replies already due leave before the places call, once their floods have.
      await new Promise((resolve) => { this.hold(resolve); });
      if (this.closed) return;
    }
    this.flush();
    let answer;
    try {
      const { status, body } = await this.places.call(placesPath(endpoint.prefix, key, record.query, metres));
      answer = jsonFor(status, body, bound);
    } catch (failure) {
      if (node.log.enabled) node.log.event(`conn ${this.id} places call failed: ${failure.message}`);
      answer = errorJson('UNKNOWN_ERROR', failure.message);
    }
    this.calling = false;
    if (this.closed) return;
    this.out.push(whatsatReply(record.wire, answer));
    this.pump();
  }

  flush() {
    if (this.out.length === 0) return;
    const data = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    const { log } = this.node;
    if (log.enabled) {
      const nl = data.indexOf(10);
      log.event(`conn ${this.id} out (${data.length} bytes): ${escape(data.subarray(0, nl < 0 ? data.length : nl))}`);
    }
    this.write(data);
  }

  /**
   * Writes the replies already due, then closes: reads no more, and once the replies are
   * handed to the kernel destroys the socket. Ending it alone (a half-close) would go on
   * reading, and dropping, whatever the client sends, such as an endless line.
   */
  close(reason) {
    if (this.onFloods !== null) {
      this.onFloods = () => this.close(reason);
      return;
    }
    if (this.floodsPending()) {
      this.hold(() => this.close(reason));
      return;
    }
    this.flush();
    this.reason = reason;
    this.closed = true;
    const { socket } = this;
    socket.pause();
    socket.end(() => socket.destroy());
  }

  // --- acknowledging after the flood

  /** True while some link this connection's replies wait for has not written them. */
  floodsPending() {
    for (const [link, seq] of this.waits) {
      if (link.closed || link.written >= seq) {
        this.waits.delete(link);
        link.waiters.delete(this);
      }
    }
    return this.waits.size > 0;
  }

  /** Runs `then` once the floods are written, or after FLOOD_WAIT at the latest. */
  hold(then) {
    this.onFloods = then;
    for (const link of this.waits.keys()) link.waiters.add(this);
    this.floodTimer = setTimeout(() => this.floodTimeout(), FLOOD_WAIT_MS);
  }

  unhold() {
    for (const link of this.waits.keys()) link.waiters.delete(this);
    this.waits.clear();
    if (this.floodTimer !== null) {
      clearTimeout(this.floodTimer);
      this.floodTimer = null;
    }
    const then = this.onFloods;
    this.onFloods = null;
    return then;
  }

  /** A link this connection waits for wrote, or went down. */
  floodsProgress() {
    if (this.onFloods !== null && !this.floodsPending()) this.unhold()();
  }

  floodTimeout() {
    this.floodTimer = null;
    const { log } = this.node;
    if (log.enabled) {
      let stuck = 0;
      for (const [link, seq] of this.waits) if (!link.closed && link.written < seq) stuck += 1;
      log.event(`conn ${this.id} replies sent before their floods were written (${stuck} links stuck)`);
    }
    const then = this.unhold();
    if (then !== null) then();
  }

  // --- peer links

  helloReply() {
    let line;
    try {
      line = this.lines.nextLine();
    } catch {
      line = Buffer.alloc(0);
    }
    if (line === null) return;
    const expected = this.dialPeer;
    let cmd = null;
    try {
      cmd = parseCommand(line);
    } catch {
      cmd = null;
    }
    let error;
    if (cmd === null || cmd.verb !== 'HELLO') error = 'expected `HELLO <server> <key>`';
    else if (cmd.server !== expected) error = `expected a HELLO from ${JSON.stringify(expected)}, got one from ${JSON.stringify(cmd.server)}`;
    else error = this.node.checkHello(cmd.server, cmd.key);
    const ready = this.onReady;
    this.onReady = null;
    if (error !== null) {
      this.closed = true;
      this.socket.destroy();
      ready(new Error(error));
      return;
    }
    ready(null);
    this.becomeLink(expected);
  }

  becomeLink(peer) {
    const { node } = this;
    this.peer = peer;
    this.dialPeer = null;
    this.stopStallTimer();
    this.lines.limit = MAX_PEER_LINE_BYTES;
    const snapshot = node.linkUp(peer, this);
    if (node.log.enabled) node.log.event(`link to ${peer} up (conn ${this.id})`);
    if (snapshot.length) this.write(snapshot);
    if (!this.reading) {
      this.socket.resume();
      this.reading = true;
    }
    this.peerLines();
  }

  peerLines() {
    const { node, peer } = this;
    const { log } = node;
    while (!this.closed) {
      let line;
      try {
        line = this.lines.nextLine();
      } catch {
        this.drop('line too long');
        return;
      }
      if (line === null) return;
      let outcome;
      try {
        const record = parseRecord(line);
        outcome = node.offer(record);
        if (outcome === STORED) node.flood(record, peer);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        outcome = 'invalid';
      }
      if (log.enabled) log.event(`from ${peer} (${outcome}): ${escape(line)}`);
    }
  }

  /**
   * Queues an AT line for this link and returns its line number, or null if the link is
   * closed or was reset for falling too far behind.
   */
  sendNews(wire) {
    if (this.closed) return null;
    const { node } = this;
    if (this.paused) {
      if (this.queue.length >= node.limits.peer_queue) {
        if (node.log.enabled) node.log.event(`link to ${this.peer} fell too far behind; resetting it`);
        node.linkDown(this.peer, this);
        this.drop(REPLACED);
        return null;
      }
      this.queue.push(wire);
    } else {
      this.out.push(wire);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // News flooded while handling one chunk of input goes out in one write; a paused
        // link leaves it to onDrain, which writes it before the queue, in order.
        setImmediate(() => {
          this.flushScheduled = false;
          if (this.out.length && !this.closed && !this.paused) {
            const data = Buffer.concat(this.out);
            this.out = [];
            this.writeNews(data);
          }
        });
      }
    }
    this.queued += 1;
    return this.queued;
  }

  /** Writes every line queued so far; its callback says when they reached the kernel. */
  writeNews(data) {
    const upto = this.queued;
    const done = (error) => {
      if (!error && upto > this.written) this.written = upto;
      this.progress();
    };
    if (!this.socket.write(data, done)) this.paused = true;
  }

  /** Tells the client connections waiting for this link that it wrote or went down. */
  progress() {
    for (const waiter of [...this.waiters]) waiter.floodsProgress();
  }

  /** Ends a link at once, discarding what it had not sent. */
  drop(reason) {
    this.reason = reason;
    this.closed = true;
    this.socket.destroy();
    this.progress();
  }
}

function handshake(node, peer, { host, port }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let conn = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('handshake timed out'));
    }, HANDSHAKE_TIMEOUT_MS);
    conn = new Conn(node, socket, {
      dialPeer: peer,
      onReady: (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(conn);
      },
    });
    socket.on('connect', () => socket.write(node.hello));
  });
}

/** Keeps the link to `peer` up: dial, HELLO exchange, run until it drops, again. */
async function dial(node, peer, addr) {
  let attempt = 0;
  for (;;) {
    let conn;
    try {
      conn = await handshake(node, peer, addr);
    } catch (e) {
      const delay = reconnectDelayMs(attempt);
      if (node.log.enabled) node.log.event(`dial ${peer} failed: ${e.message}; retry in ${delay} ms`);
      attempt += 1;
      await new Promise((resolve) => { setTimeout(resolve, delay); });
      continue;
    }
    attempt = 0;
    await conn.done;
  }
}

module.exports = { Node, Conn, dial, showAddr, WRITE_STALL_MS };
