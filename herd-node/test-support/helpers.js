'use strict';
// What several test files (test/) share: a bound on how long a test waits, and a node of a
// two-server herd (A and B, linked) with a fixed clock. It lives outside test/ so that
// `node --test test/` does not run it as a test file.

const config = require('../lib/config');
const { Log } = require('../lib/log');
const { Node } = require('../lib/server');

const LIMIT_MS = 10000; // how long a test waits for what must happen

/** `promise`, or a rejection naming `what` if it has not settled within LIMIT_MS. */
function within(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${LIMIT_MS} ms: ${what}`)), LIMIT_MS);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Server A of a two-server herd (A and B, neighbours), logging nowhere, at a fixed time. */
function nodeA() {
  const herdConfig = config.validate({
    herd: { key: 'k' },
    places: { base_url: 'http://127.0.0.1:9', key: 'p' },
    server: [
      { name: 'A', addr: '127.0.0.1:12001', neighbours: ['B'] },
      { name: 'B', addr: '127.0.0.1:12002', neighbours: ['A'] },
    ],
  }, 't');
  const clock = () => 2000000000n * 1000000000n;
  return new Node(herdConfig, 'A', new Log('A', null, clock), clock);
}

module.exports = { LIMIT_MS, within, nodeA };
