// The WebSocket and its protocol: msgpack binary frames (JSON text frames where msgpack could not load),
// reconnects with backoff, replies routed by requestId.

import { $ } from "./dom.js";
import { withToken, api } from "./http.js";
import { showError, clearError } from "./errors.js";

// msgpack is what carries stemChunk audio; without it (the vendored files missing) the page
// still works in JSON, fetching the finished stems as WAV files. The page is wired at once;
// only the WebSocket waits for this.
let msgpack = null;
export const msgpackLoaded = import("../vendor/msgpack/index.mjs").then((module) => {
  msgpack = module;
}, (err) => {
  console.warn(`stemcast: msgpack could not be loaded (${err.message}); using JSON, without streaming`);
});

// Whether frames are msgpack (stemChunk audio streams) or JSON.
export function usesMsgpack() {
  return msgpack !== null;
}

// What the rest of the page does on the socket's news; app.js fills these in, so this module
// knows nothing of jobs, the library or models.
export const hooks = {
  opened: () => {},          // connected (again): ask again for what the page follows
  hello: (_message) => {},   // the server's hello reply: models, outputs
  following: () => false,    // whether a job is followed (said when the connection drops)
};

export const socket = {
  ws: null,
  delay: 500,
  timer: null,
  helloTimer: null,
  handlers: new Map(),     // requestId -> message handler
  pending: [],             // messages to send once open
  server: null,            // the hello reply
};

export function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return withToken(`${scheme}//${location.host}/ws`);
}

export function setConn(state, text) {
  const pill = $("conn");
  pill.dataset.state = state;
  pill.textContent = text;
}

export function encodeFrame(message) {
  // Leave out what is unset: in commands null means the same as absent.
  const clean = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined && v !== null));
  return msgpack ? msgpack.encode(clean) : JSON.stringify(clean);
}

export function decodeFrame(data) {
  if (typeof data === "string") return JSON.parse(data);
  if (!msgpack) return null;
  return msgpack.decode(new Uint8Array(data));
}

export function helloCommand() {
  return { command: "hello", client: "stemcast-web", protocolVersion: 1, delivery: msgpack ? "binary" : null };
}

export function connect() {
  clearTimeout(socket.timer);
  setConn("connecting", "Connecting…");
  const ws = new WebSocket(wsUrl());
  ws.binaryType = "arraybuffer";
  socket.ws = ws;
  ws.addEventListener("open", () => {
    socket.delay = 500;
    setConn("open", "Connected");
    clearError("connection");
    ws.send(encodeFrame(helloCommand()));
    for (const message of socket.pending.splice(0)) ws.send(encodeFrame(message));
    hooks.opened();
  });
  ws.addEventListener("message", (event) => {
    let message;
    try { message = decodeFrame(event.data); } catch (err) {
      console.warn(`stemcast: a frame could not be decoded (${err.message})`);
      return;
    }
    if (message && typeof message === "object") onMessage(message);
  });
  ws.addEventListener("close", async () => {
    if (socket.ws !== ws) return;
    socket.ws = null;
    const seconds = Math.round(socket.delay / 100) / 10;
    setConn("closed", `Disconnected: retrying in ${seconds} s`);
    // A refused handshake looks like any other close: ask HTTP why.
    try {
      await api("/queue");
      if (hooks.following()) showError("CONNECTION", `reconnecting in ${seconds} s; the job goes on on the server`, { key: "connection" });
    } catch (err) {
      showError(err.code, err.message, { key: "connection" });
    }
    socket.timer = setTimeout(connect, socket.delay);
    socket.delay = Math.min(socket.delay * 2, 10000);
  });
}

export function send(message) {
  if (socket.ws && socket.ws.readyState === WebSocket.OPEN) socket.ws.send(encodeFrame(message));
  else socket.pending.push(message);
}

export function onMessage(message) {
  if (message.type === "hello") {
    socket.server = message;
    hooks.hello(message);
    return;
  }
  const handler = socket.handlers.get(message.requestId);
  if (handler) handler(message);
}

