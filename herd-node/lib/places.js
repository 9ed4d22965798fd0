'use strict';
// A client connection's places calls over `http` with its own keep-alive Agent: one
// HTTP/1.1 connection per client connection, kept alive between calls (docs/PROTOCOL.md).
// A reused connection that fails before answering is retried once on a fresh one; the
// timeout covers connect, write and read of each attempt.

const http = require('node:http');
const { MAX_BODY_BYTES } = require('./protocol');

class PlacesFailure extends Error {
  constructor(message, retryable = false) {
    super(message);
    this.retryable = retryable;
  }
}

const TRUNCATED = 'places service closed the connection before a full response';

function timedOut(ms) {
  return new PlacesFailure(`places service did not answer within ${ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`}`);
}

class Places {
  constructor(endpoint, timeoutMs) {
    this.endpoint = endpoint;
    this.timeoutMs = timeoutMs;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /** Resolves to {status, body}; rejects with a PlacesFailure. */
  async call(path) {
    for (;;) {
      try {
        return await this.attempt(path);
      } catch (failure) {
        if (!failure.reused || !failure.retryable) throw failure;
      }
    }
  }

  attempt(path) {
    const { host, port, authority } = this.endpoint;
    return new Promise((resolve, reject) => {
      let settled = false;
      let reused = false;
      const fail = (failure) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        failure.reused = reused;
        req.destroy();
        reject(failure);
      };
      const req = http.request({
        host,
        port,
        path,
        agent: this.agent,
        headers: { Host: authority, Accept: 'application/json' },
      }, (res) => {
        const chunks = [];
        let size = 0;
        res.on('data', (chunk) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            fail(new PlacesFailure(`places response body larger than ${MAX_BODY_BYTES} bytes`));
          } else {
            chunks.push(chunk);
          }
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode, body: Buffer.concat(chunks) });
        });
        res.on('aborted', () => fail(new PlacesFailure(TRUNCATED, true)));
        res.on('error', () => fail(new PlacesFailure(TRUNCATED, true)));
      });
      req.on('socket', (socket) => {
        reused = req.reusedSocket;
        socket.setNoDelay(true);
      });
      req.on('error', (e) => {
        if (String(e.code).startsWith('HPE_')) {
          fail(new PlacesFailure(`places service sent a malformed HTTP response: ${e.message}`));
        } else if (e.code === 'ECONNRESET' && !req.res) {
          fail(new PlacesFailure(req.reusedSocket ? `places service unreachable: ${e.message}` : TRUNCATED, true));
        } else {
          fail(new PlacesFailure(`places service unreachable: ${e.message}`, true));
        }
      });
      const timer = setTimeout(() => fail(timedOut(this.timeoutMs)), this.timeoutMs);
      req.end();
    });
  }

  close() {
    this.agent.destroy();
  }
}

module.exports = { Places, PlacesFailure };
