'use strict';
// Acknowledging after the flood (docs/PROTOCOL.md): an IAMAT that changes the store is
// answered only once its flood is written on every link that is up, or the link went down,
// or FLOOD_WAIT passed. Driven through Conn with in-memory sockets whose writes complete
// only when the test says so.

const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { setImmediate: turn } = require('node:timers/promises');
const { Conn } = require('../lib/server');
const { nodeA } = require('../test-support/helpers');

/** What Conn uses of a net.Socket. `sent` reached the "kernel"; `pending` writes wait. */
class Socket extends EventEmitter {
  constructor({ full = false } = {}) {
    super();
    this.full = full;
    this.sent = [];
    this.pending = [];
    this.destroyed = false;
    this.remoteAddress = '127.0.0.1';
    this.remotePort = 40000;
  }

  setNoDelay() {}

  pause() {}

  resume() {}

  write(data, done) {
    if (this.full) {
      this.pending.push([data, done]);
      return false;
    }
    this.sent.push(Buffer.from(data));
    if (done) process.nextTick(done);
    return true;
  }

  /** The kernel takes everything pending. */
  drain() {
    this.full = false;
    for (const [data, done] of this.pending) {
      this.sent.push(Buffer.from(data));
      if (done) process.nextTick(done);
    }
    this.pending = [];
    this.emit('drain');
  }

  end(done) {
    if (done) process.nextTick(done);
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const [, done] of this.pending) if (done) process.nextTick(done, new Error('destroyed'));
    this.pending = [];
    process.nextTick(() => this.emit('close'));
  }

  text() {
    return Buffer.concat(this.sent).toString();
  }
}

function herd({ linkFull }) {
  const node = nodeA();
  const link = new Conn(node, new Socket({ full: linkFull }));
  link.becomeLink('B');
  const client = new Conn(node, new Socket());
  client.accept();
  return { link, client };
}

test('a reply waits for a full link and follows its write', async () => {
  const { link, client } = herd({ linkFull: true });
  client.onData(Buffer.from('IAMAT c +1+1 1\nIAMAT d +2+2 1\n'));
  await turn();
  await turn();
  assert.equal(client.socket.text(), '', 'acknowledged before the flood left');
  link.socket.drain();
  await turn();
  await turn();
  assert.match(link.socket.text(), / c \+1\+1 1\n/);
  assert.match(link.socket.text(), / d \+2\+2 1\n/);
  const replies = client.socket.text().trim().split('\n');
  assert.deepEqual(replies.map((r) => r.split(' ')[3]), ['c', 'd']);
});

test('a free link writes, then the reply leaves', async () => {
  const { link, client } = herd({ linkFull: false });
  client.onData(Buffer.from('IAMAT c +1+1 1\n'));
  assert.equal(client.socket.text(), '');
  await turn();
  await turn();
  assert.match(link.socket.text(), / c \+1\+1 1\n/);
  assert.ok(client.socket.text().startsWith('AT A '));
});

test('a link that goes down releases the reply', async () => {
  const { link, client } = herd({ linkFull: true });
  client.onData(Buffer.from('IAMAT c +1+1 1\n'));
  await turn();
  assert.equal(client.socket.text(), '');
  link.drop('test');
  await turn();
  assert.ok(client.socket.text().startsWith('AT A '));
});

test('stale and invalid lines wait for nothing', async () => {
  const { link, client } = herd({ linkFull: false });
  client.onData(Buffer.from('IAMAT c +1+1 5\n'));
  await turn();
  await turn();
  link.socket.full = true;
  client.socket.sent = [];
  client.onData(Buffer.from('IAMAT c +1+1 4\nbogus\n'));
  assert.equal(client.socket.text().split('\n').length, 3);
});
