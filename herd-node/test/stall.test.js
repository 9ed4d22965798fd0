'use strict';
// A client that does not read its replies is dropped once its socket has stayed full for
// WRITE_STALL (docs/PROTOCOL.md); a client that reads again in time, and the peer links, are
// not. The first cases drive Conn with an in-memory socket; the last runs a real server on
// port 0.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { once, EventEmitter } = require('node:events');
const { Conn, WRITE_STALL_MS } = require('../lib/server');
const { within, nodeA } = require('../test-support/helpers');

/** A socket whose kernel buffer is always full until the test emits 'drain'. */
class FullSocket extends EventEmitter {
  constructor() {
    super();
    this.destroyed = false;
    this.remoteAddress = '127.0.0.1';
    this.remotePort = 40000;
  }

  setNoDelay() {}

  pause() {}

  resume() {}

  write() {
    return false;
  }

  end() {}

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    process.nextTick(() => this.emit('close'));
  }
}

function makeNode(writeStallMs) {
  const node = nodeA();
  node.writeStallMs = writeStallMs;
  return node;
}

test('the default bound is the Rust shells\' WRITE_STALL', () => {
  assert.equal(WRITE_STALL_MS, 10000);
});

test('a client whose socket stays full for WRITE_STALL is dropped', async () => {
  const node = makeNode(50);
  const client = new Conn(node, new FullSocket());
  client.accept();
  client.onData(Buffer.from('BOGUS\n'));
  assert.ok(client.paused);
  assert.notEqual(client.stallTimer, null);
  await within(client.done, 'the client is dropped');
  assert.ok(client.socket.destroyed);
  assert.match(client.reason, /not read/);
  assert.equal(node.open, 0);
});

test('a drain stops the clock, and a new stall starts it afresh', () => {
  const node = makeNode(60000);
  const client = new Conn(node, new FullSocket());
  client.accept();
  client.onData(Buffer.from('BOGUS\n'));
  const first = client.stallTimer;
  assert.notEqual(first, null);
  client.socket.emit('drain');
  assert.equal(client.stallTimer, null);
  assert.ok(!client.socket.destroyed);
  client.onData(Buffer.from('BOGUS\n'));
  assert.notEqual(client.stallTimer, null);
  assert.notEqual(client.stallTimer, first);
  client.socket.destroy();
});

test('a full peer link is not on the stall clock', () => {
  const node = makeNode(50);
  const link = new Conn(node, new FullSocket());
  link.becomeLink('B');
  link.write(Buffer.from('AT A +0 c +1+1 1\n'));
  assert.ok(link.paused);
  assert.equal(link.stallTimer, null);
  link.socket.destroy();
});

test('a real client that never reads is dropped and others are served', async () => {
  const node = makeNode(300);
  const conns = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn = new Conn(node, socket);
    conns.push(conn);
    conn.accept();
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const { port } = server.address();
  try {
    const hog = net.connect({ host: '127.0.0.1', port });
    hog.on('error', () => {}); // the drop may reach the hog as a reset
    const closed = new Promise((resolve) => { hog.on('close', resolve); });
    await once(hog, 'connect');
    hog.pause(); // never reads
    // Far more replies than the socket buffers hold (each invalid line is echoed back).
    const line = `BOGUS ${'x'.repeat(1000)}\n`;
    hog.write(line.repeat(16 * 1024));
    await within(closed, 'the server drops the non-reader');
    assert.match(conns[0].reason, /not read/);
    const polite = net.connect({ host: '127.0.0.1', port });
    await once(polite, 'connect');
    polite.write('IAMAT polite +1+1 1\n');
    const [reply] = await within(once(polite, 'data'), 'the polite client is answered');
    assert.ok(reply.toString().startsWith('AT A '), reply.toString());
    polite.destroy();
  } finally {
    server.close();
  }
});
