'use strict';
// The server log: `<unix time> <server> <event>` lines, buffered (64 KiB), flushed at least
// once a second and at exit. Callers test `enabled` first, so --no-log costs nothing.

const fs = require('node:fs');
const path = require('node:path');
const { formatTime } = require('./protocol');

const BUFFER_BYTES = 64 * 1024;

class Log {
  constructor(server, dir, clock) {
    this.server = server;
    this.clock = clock;
    this.enabled = dir !== null;
    this.parts = [];
    this.size = 0;
    if (this.enabled) {
      fs.mkdirSync(dir, { recursive: true });
      this.fd = fs.openSync(path.join(dir, `${server}.log`), 'a');
      setInterval(() => this.flush(), 1000).unref();
    }
  }

  event(text) {
    if (!this.enabled) return;
    const line = `${formatTime(this.clock())} ${this.server} ${text}\n`;
    this.parts.push(line);
    this.size += line.length;
    if (this.size >= BUFFER_BYTES) this.flush();
  }

  flush() {
    if (!this.enabled || this.parts.length === 0) return;
    fs.writeSync(this.fd, this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
}

module.exports = { Log };
