// sockets.mjs — the socket-level faults every emulator injects, and the run
// fault queue they share.

// Closes the socket once what was written has left it, so the peer gets
// those bytes and then an end it did not expect.
export function destroyAfterFlush(sock) {
  const poll = () => {
    if (sock.destroyed) return;
    if (sock.writableLength === 0) setTimeout(() => sock.destroy(), 10);
    else setTimeout(poll, 5);
  };
  poll();
}

// A TCP reset where the platform can send one (not through TLS).
export function resetSocket(req, tls) {
  const s = req.socket;
  if (typeof s.resetAndDestroy === 'function' && !tls) s.resetAndDestroy();
  else s.destroy();
}

// Chooses the fault for a request: a directive in the last user message
// wins over a model suffix, which wins over run faults (oldest first; a
// run fault with a count is used up).  `lang` is the emulator's fault
// language (common/faults.mjs).
export function pickFault(lang, runFaults, path, body, modelFault, lastText) {
  const direct = lang.directiveIn(lastText);
  if (direct) return direct;
  if (modelFault) return modelFault;
  for (let i = 0; i < runFaults.length; i++) {
    const f = runFaults[i];
    if (f.path && !path.startsWith(f.path)) continue;
    if (f.model && body?.model !== f.model && lang.splitModel(body?.model).base !== f.model) continue;
    if (typeof f.count === 'number') {
      f.count--;
      if (f.count <= 0) runFaults.splice(i, 1);
    }
    return f;
  }
  return null;
}
