'use strict';
// The listening policy (lib/listen.js, docs/PROTOCOL.md): an error before the first
// 'listening' is reported; one after it (an accept that failed for want of descriptors)
// closes the listening socket, pauses RESOURCE_PAUSE and listens again on the same port, and
// the server serves as before. Real servers on port 0; the accept error is emitted as
// Node.js emits it.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { once } = require('node:events');
const { keepListening, RESOURCE_PAUSE_MS } = require('../lib/listen');
const { within } = require('../test-support/helpers');


function acceptError() {
  return Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
}

async function echoOnce(port) {
  const c = net.connect({ host: '127.0.0.1', port });
  await once(c, 'connect');
  c.write('ping\n');
  const [data] = await once(c, 'data');
  c.destroy();
  return data.toString();
}

test('the pause matches the Rust shells\' RESOURCE_PAUSE', () => {
  assert.equal(RESOURCE_PAUSE_MS, 10);
});

test('an accept error pauses, then the same port serves again', async () => {
  const server = net.createServer((s) => s.on('data', (d) => s.end(d)));
  const pauses = [];
  const first = new Promise((resolve, reject) => {
    keepListening(server, { host: '127.0.0.1', port: 0 }, {
      onListening: resolve,
      onFail: reject,
      onPause: (e) => pauses.push(e.code),
    });
  });
  const { port } = await within(first, 'first listen');
  try {
    assert.equal(await echoOnce(port), 'ping\n');
    const started = Date.now();
    const again = new Promise((resolve) => { server.once('listening', resolve); });
    // libuv reports the error again and again until the socket closes: one pause only.
    server.emit('error', acceptError());
    server.emit('error', acceptError());
    assert.equal(server.listening, false, 'the listening socket is closed during the pause');
    await within(again, 'listening again');
    assert.ok(Date.now() - started >= RESOURCE_PAUSE_MS - 1);
    assert.deepEqual(pauses, ['EMFILE']);
    assert.equal(server.address().port, port);
    assert.equal(await echoOnce(port), 'ping\n');
  } finally {
    server.close();
  }
});

test('a failing first listen is reported, not retried', async () => {
  const taken = net.createServer();
  taken.listen({ host: '127.0.0.1', port: 0 });
  await once(taken, 'listening');
  const server = net.createServer();
  try {
    const failed = new Promise((resolve, reject) => {
      keepListening(server, { host: '127.0.0.1', port: taken.address().port }, {
        onListening: () => reject(new Error('listened on a taken port')),
        onFail: resolve,
        onPause: () => reject(new Error('paused instead of failing')),
      });
    });
    const e = await within(failed, 'the failure');
    assert.equal(e.code, 'EADDRINUSE');
  } finally {
    taken.close();
  }
});
