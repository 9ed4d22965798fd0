'use strict';
// Listening, with the Rust shells' accept policy (herd-shell's accept.rs, docs/PROTOCOL.md):
// at the descriptor limit the server pauses RESOURCE_PAUSE and goes on serving.
//
// libuv mostly handles EMFILE itself: it keeps a spare descriptor, and when accept fails it
// frees that one, accepts and closes every waiting connection (a clean close for them) and
// takes the spare back. When the spare is gone (something else took the descriptor first)
// it reports the error to the server's connection callback and calls accept again at once,
// in a loop that ends only when the listening socket closes. Node.js emits each report as
// the server's 'error'. So after the first 'listening', an error closes the listening
// socket, which ends that loop, and listens again on the same address after RESOURCE_PAUSE,
// retrying for as long as that fails; an error before it is the caller's to report.

const RESOURCE_PAUSE_MS = 10;

/**
 * Listens `server` with `options` ({ host, port, backlog }). `onListening(addr)` runs once,
 * at the first 'listening'; `onFail(error)` if that first listen fails; `onPause(error)` for
 * each later error, before the pause.
 */
function keepListening(server, options, { onListening, onFail, onPause }) {
  let address = null; // where to listen again: the first listen's, with its port
  let paused = false;
  server.on('error', (e) => {
    if (address === null) {
      onFail(e);
      return;
    }
    if (paused) return;
    paused = true;
    onPause(e);
    if (server.listening) server.close();
    setTimeout(() => {
      paused = false;
      server.listen(address);
    }, RESOURCE_PAUSE_MS);
  });
  server.once('listening', () => {
    address = { ...options, port: server.address().port };
    onListening(server.address());
  });
  server.listen(options);
}

module.exports = { keepListening, RESOURCE_PAUSE_MS };
