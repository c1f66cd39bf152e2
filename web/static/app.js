// stemcast's browser page: upload or fetch a song, follow its job over the WebSocket,
// hear its stems while they separate (streamed as stemChunk frames), then play, mix and
// download them. Plain ES modules, no build step: msgpack comes from web/static/vendor/
// (refreshed by web/refresh-vendor.sh).

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "stemcast.token";
const DOWNLOAD_KEY = "stemcast.download";

// msgpack is what carries stemChunk audio; without it (the vendored files missing) the page
// still works in JSON, fetching the finished stems as WAV files. The page is wired at once;
// only the WebSocket waits for this.
let msgpack = null;
const msgpackLoaded = import("./vendor/msgpack/index.mjs").then((module) => {
  msgpack = module;
}, (err) => {
  console.warn(`stemcast: msgpack could not be loaded (${err.message}); using JSON, without streaming`);
});

const STEM_COLORS = {
  drums: "#ff9f5a", bass: "#b48cff", other: "#4fd1c5", vocals: "#ff7eb6",
  guitar: "#ffd75e", piano: "#7ec8ff", accompaniment: "#8fd694", nodrums: "#8fb8ff",
};
const STEM_LABELS = { nodrums: "no drums" };  // shown names; the data keeps the server's
const stemLabel = (name) => STEM_LABELS[name] || name;
const STEM_ORDER = ["drums", "bass", "other", "vocals", "guitar", "piano", "accompaniment", "nodrums"];
const FOUR = ["drums", "bass", "other", "vocals"];
const FRIENDLY = {
  NOT_AUDIO: "This file is not audio stemcast can read.",
  EMPTY_AUDIO: "This file holds no audio.",
  UNSUPPORTED_AUDIO: "stemcast does not separate this kind of audio.",
  TRACK_TOO_LONG: "This song is too long for this server.",
  MODEL_UNAVAILABLE: "The server has no model weights, so it cannot separate songs yet.",
  MODEL_NOT_FOUND: "The server does not offer that model.",
  UPLOAD_TOO_LARGE: "The file is too large for this server.",
  FETCH_FAILED: "The server could not download that link.",
  FETCH_TIMEOUT: "Downloading that link took too long.",
  UNAUTHORIZED: "This server needs an access token.",
  SEPARATION_FAILED: "Separation failed.",
  WORKER_CRASHED: "The separation process crashed.",
  STEMS_REMOVED: "The stems of this track were removed from the server's disk.",
  STEM_NOT_FOUND: "The server has no such stem.",
  INVALID_FIELD: "The server refused these settings.",
  CONNECTION: "The connection to the server was lost.",
  LOAD_FAILED: "The stems could not be loaded for playback.",
};

// Download formats offered in the player; each maps to the HTTP query of /api/stems.
const DOWNLOADS = [
  { value: "wav16", label: "WAV 16-bit", name: "WAV", format: "wav", bitDepth: 16 },
  { value: "wav24", label: "WAV 24-bit", name: "WAV 24-bit", format: "wav", bitDepth: 24 },
  { value: "wav32", label: "WAV 32-bit float", name: "WAV 32-bit float", format: "wav", bitDepth: 32 },
  { value: "flac", label: "FLAC (lossless)", name: "FLAC", format: "flac", bitDepth: 16 },
  { value: "mp3", label: "MP3 320 kbps", name: "MP3", format: "mp3", bitrate: 320 },
];

// Stem variants the page offers, in the order shown; `needs`: the model's stems it takes.
const VARIANTS = [
  { value: "6stems", needs: ["drums", "bass", "other", "vocals", "guitar", "piano"],
    label: "6 stems: drums, bass, other, vocals, guitar, piano",
    stems: ["drums", "bass", "other", "vocals", "guitar", "piano"] },
  { value: "4stems", needs: FOUR, label: "4 stems: drums, bass, other, vocals", stems: FOUR },
  { value: "2stems", needs: ["vocals"], label: "2 stems: vocals + accompaniment",
    stems: ["vocals", "accompaniment"] },
  { value: "2stems-drums", needs: ["drums"], label: "2 stems: drums + no drums",
    stems: ["drums", "nodrums"] },
];

// What the page has seen, for people and tests (window.stemcastStats).
const stats = {
  transport: "loading",    // then "msgpack", or "json" where msgpack could not load
  chunks: 0,              // stemChunk frames received
  chunkBytes: 0,
  chunksBeforeReady: 0,   // of the latest request, before its stemsReady
  readyAfterChunks: 0,    // stemsReady messages whose audio had all been streamed
  playsWhileStreaming: 0, // Play pressed (or resumed) before the stems were complete
  handovers: 0,           // playback carried on, sample-exactly, into audio that came later
  waits: 0,               // playback caught up with the separation and waited for it
  fetchedStems: 0,        // stems fetched as WAV over HTTP for playback
  analyses: 0,            // trackAnalysis messages
};
window.stemcastStats = stats;

// ---- token and HTTP -------------------------------------------------------------------

function readToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    localStorage.setItem(TOKEN_KEY, fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  return localStorage.getItem(TOKEN_KEY) || "";
}
let token = readToken();

function withToken(path) {
  if (!token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    throw new ApiError("CONNECTION", `could not reach the server (${err.message})`, 0);
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(error.code || `HTTP_${response.status}`,
      error.message || `the server answered ${response.status} ${response.statusText}`,
      response.status);
  }
  return body;
}

// ---- errors shown in words --------------------------------------------------------------

function showError(code, message, { key = code } = {}) {
  const box = $("errors");
  let item = box.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (!item) {
    item = document.createElement("div");
    item.className = "error";
    item.dataset.key = key;
    const text = document.createElement("p");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "ghost small";
    close.textContent = "Dismiss";
    close.addEventListener("click", () => item.remove());
    item.append(text, close);
    box.append(item);
  }
  item.dataset.code = code;
  const text = item.querySelector("p");
  text.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = FRIENDLY[code] || "Something went wrong.";
  const detail = document.createElement("span");
  detail.textContent = message ? `${message} (${code})` : code;
  text.append(strong, detail);
  if (code === "UNAUTHORIZED") $("token-box").open = true;
}

function clearError(key) {
  const item = $("errors").querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (item) item.remove();
}

function clearJobErrors() {
  for (const item of $("errors").querySelectorAll(".error")) {
    if (item.dataset.key !== "connection" && item.dataset.key !== "model") item.remove();
  }
}

// ---- formatting -------------------------------------------------------------------------

const KEYS = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];
function keyName(track) {
  if (track.keyName) return track.keyName;
  const { key, mode } = track;
  if (key === null || key === undefined || key === "") return "";
  const name = KEYS[Number(key)] ?? String(key);
  return `${name} ${mode === "0" ? "minor" : "major"}`;
}
function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
function fineClock(seconds) {
  const tenths = Math.round(Math.max(0, seconds || 0) * 10);
  return `${clock(Math.floor(tenths / 10))}.${tenths % 10}`;
}
function ordinal(n) {
  const tail = n % 100 >= 11 && n % 100 <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
  return `${n}${tail}`;
}
function order(name) {
  const index = STEM_ORDER.indexOf(name);
  return index === -1 ? STEM_ORDER.length : index;
}
function byStemOrder(names) {
  return [...names].sort((a, b) => order(a) - order(b));
}

// ---- the WebSocket ----------------------------------------------------------------------

const socket = {
  ws: null,
  delay: 500,
  timer: null,
  helloTimer: null,
  handlers: new Map(),     // requestId -> message handler
  pending: [],             // messages to send once open
  server: null,            // the hello reply
};

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return withToken(`${scheme}//${location.host}/ws`);
}

function setConn(state, text) {
  const pill = $("conn");
  pill.dataset.state = state;
  pill.textContent = text;
}

function encodeFrame(message) {
  // Leave out what is unset: in commands null means the same as absent.
  const clean = Object.fromEntries(Object.entries(message).filter(([, v]) => v !== undefined && v !== null));
  return msgpack ? msgpack.encode(clean) : JSON.stringify(clean);
}

function decodeFrame(data) {
  if (typeof data === "string") return JSON.parse(data);
  if (!msgpack) return null;
  return msgpack.decode(new Uint8Array(data));
}

function helloCommand() {
  return { command: "hello", client: "stemcast-web", protocolVersion: 1, delivery: msgpack ? "binary" : null };
}

function connect() {
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
    resumeJob();
    refreshLibrary();
    refreshQueue();
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
      if (job.active) showError("CONNECTION", `reconnecting in ${seconds} s; the job goes on on the server`, { key: "connection" });
    } catch (err) {
      showError(err.code, err.message, { key: "connection" });
    }
    socket.timer = setTimeout(connect, socket.delay);
    socket.delay = Math.min(socket.delay * 2, 10000);
  });
}

function send(message) {
  if (socket.ws && socket.ws.readyState === WebSocket.OPEN) socket.ws.send(encodeFrame(message));
  else socket.pending.push(message);
}

function onMessage(message) {
  if (message.type === "hello") {
    socket.server = message;
    showModels(message);
    return;
  }
  const handler = socket.handlers.get(message.requestId);
  if (handler) handler(message);
}

// ---- models, variants and download formats -------------------------------------------------

function serverModels(hello) {
  const models = Array.isArray(hello.models) ? hello.models.map((m) => ({ ...m })) : [];
  if (hello.model && !models.some((m) => m.name === hello.model)) {
    // The configured default is not on offer (no weights, or still loading).
    models.unshift({ name: hello.model, kind: null, sources: hello.sources || [], default: true,
      status: hello.modelStatus });
  }
  for (const m of models) {
    if (!m.status) m.status = m.default ? hello.modelStatus || "ready" : "ready";
  }
  return models;
}

function modelLabel(model) {
  const parts = [];
  if (model.kind === "dsp") parts.push("DSP, no weights");
  else if (model.kind === "demucs") parts.push("Demucs");
  if (model.sources && model.sources.length) parts.push(`${model.sources.length} stems`);
  if (model.device && model.device !== "cpu") parts.push(model.device);
  let text = model.name;
  if (parts.length) text += ` (${parts.join(", ")})`;
  if (model.default) text += " · default";
  if (model.status && model.status !== "ready") text += ` · ${model.status}`;
  return text;
}

function selectedModel() {
  const hello = socket.server;
  if (!hello) return null;
  const name = $("model-select").value;
  return serverModels(hello).find((m) => m.name === name) || null;
}

function variantsFor(model, hello) {
  const offered = hello && hello.outputs && Array.isArray(hello.outputs.variants) ? hello.outputs.variants : null;
  const sources = (model && model.sources) || [];
  return VARIANTS.filter((v) => (!offered || offered.includes(v.value))
    && v.needs.every((name) => sources.includes(name)));
}

function nativeVariant(sources) {
  return ["guitar", "piano"].every((s) => (sources || []).includes(s)) ? "6stems" : "4stems";
}

function showModels(hello) {
  const status = hello.modelStatus;
  const line = $("model-line");
  line.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = `model ${hello.model ?? "none"}${status && status !== "ready" ? ` (${status})` : ""}`;
  line.append(strong);
  if (hello.modelChoice) line.append(` — ${hello.modelChoice}`);
  line.append(` · server ${hello.serverVersion}`);
  line.title = hello.modelChoice || "";

  const select = $("model-select");
  const previous = select.value;
  const models = serverModels(hello);
  select.replaceChildren(...models.map((m) => new Option(modelLabel(m), m.name)));
  if (!models.length) select.append(new Option("no model", ""));
  const keep = models.find((m) => m.name === previous);
  const fallback = models.find((m) => m.default) || models[0];
  if (keep || fallback) select.value = (keep || fallback).name;
  showVariants();
  showDownloadFormats(hello);

  if (status === "unavailable") {
    const others = models.filter((m) => !m.default && m.status === "ready").map((m) => m.name);
    const hint = others.length ? ` You can still separate with ${others.join(", ")}: choose it under Model.` : "";
    showError("MODEL_UNAVAILABLE", `${hello.modelError || ""}${hint}`, { key: "model" });
  } else {
    clearError("model");
  }
  clearTimeout(socket.helloTimer);
  if (status === "loading") {
    // The server pushes no news of its model: ask again until it is loaded.
    socket.helloTimer = setTimeout(() => send(helloCommand()), 2000);
  }
  updateStart();
}

function showVariants() {
  const select = $("variant-select");
  const previous = select.value;
  const model = selectedModel();
  const offered = variantsFor(model, socket.server);
  if (!offered.length) {
    const sources = (model && model.sources) || [];
    select.replaceChildren(new Option(sources.length ? `${sources.length} stems: ${sources.join(", ")}` : "the model's stems", ""));
    return;
  }
  select.replaceChildren(...offered.map((v) => new Option(v.label, v.value)));
  const native = nativeVariant(model.sources);
  select.value = offered.some((v) => v.value === previous) ? previous
    : offered.some((v) => v.value === native) ? native : offered[0].value;
}

function showDownloadFormats(hello) {
  const select = $("format-select");
  const previous = localStorage.getItem(DOWNLOAD_KEY) || select.value || "wav16";
  const outputs = hello && hello.outputs;
  const offered = DOWNLOADS.filter((d) => {
    if (!outputs) return d.value === "wav16";
    if (!(outputs.formats || []).includes(d.format)) return false;
    const depths = (outputs.bitDepths || {})[d.format];
    return !d.bitDepth || !depths || depths.includes(d.bitDepth);
  });
  select.replaceChildren(...offered.map((d) => new Option(d.label, d.value)));
  select.value = offered.some((d) => d.value === previous) ? previous : "wav16";
  updateDownloadLinks();
}

function downloadChoice() {
  return DOWNLOADS.find((d) => d.value === $("format-select").value) || DOWNLOADS[0];
}

// ---- starting a job ---------------------------------------------------------------------

let chosenFile = null;
const job = {
  active: false, busy: false, requestId: null, trackId: null, track: null, counter: 0,
  options: {}, stemsDone: false, analysisPending: false,
};

function updateStart() {
  const hasInput = chosenFile || $("url-input").value.trim();
  $("start").disabled = !hasInput || job.busy;
}

function chooseFile(file) {
  chosenFile = file || null;
  $("file-name").textContent = file ? `${file.name} · ${(file.size / 1048576).toFixed(1)} MB` : "";
  if (file) $("url-input").value = "";
  updateStart();
}

function chosenOptions() {
  const model = $("model-select").value || null;
  const variant = $("variant-select").value || null;
  return { model, variant };
}

async function startSeparation(event) {
  event.preventDefault();
  clearJobErrors();
  const url = $("url-input").value.trim();
  const options = chosenOptions();
  job.busy = true;
  updateStart();
  setJob({ stage: "uploading", label: url ? "Downloading on the server" : "Uploading", progress: null });
  try {
    let track;
    if (chosenFile) {
      const form = new FormData();
      form.append("file", chosenFile, chosenFile.name);
      track = await api("/api/tracks", { method: "POST", body: form });
    } else {
      track = await api("/api/tracks/fetch", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url }),
      });
    }
    followTrack(track.trackId, track, options);
    refreshLibrary();
  } catch (err) {
    setJob({ stage: "failed", label: "Failed", progress: 0 });
    showError(err.code, err.message, { key: "job" });
  } finally {
    job.busy = false;
    updateStart();
  }
}

function stopFollowing({ cancel = true } = {}) {
  if (!job.requestId) return;
  // Tell the server to stop sending (chunks especially); the job itself goes on there.
  const open = socket.ws && socket.ws.readyState === WebSocket.OPEN;
  if (cancel && open && job.active && socket.handlers.has(job.requestId)) {
    send({ command: "cancel", requestId: job.requestId });
  }
  socket.handlers.delete(job.requestId);
  job.active = false;
}

function newRequestId() {
  job.counter += 1;
  return `web-${Date.now().toString(36)}-${job.counter}`;
}

function followTrack(trackId, track = null, options = job.options, { resume = false } = {}) {
  stopFollowing({ cancel: !resume });
  job.requestId = newRequestId();
  job.trackId = trackId;
  job.track = track;
  job.options = { ...options };
  job.active = true;
  job.stemsDone = false;
  job.analysisPending = false;
  stats.chunksBeforeReady = 0;
  socket.handlers.set(job.requestId, onJobMessage);
  if (track) showTrackLine($("job-track"), track);
  setJob({ stage: "queued", label: "Sent to the server", progress: 0 });
  send({
    command: "getTrackInfo", trackId, stems: true, requestId: job.requestId,
    model: job.options.model, variant: job.options.variant,
    delivery: msgpack ? "binary" : null,
  });
}

function resumeJob() {
  // After a reconnect: ask again; the server joins the running job (or answers from cache),
  // streaming again from frame 0 what is already separated.
  if (job.active && job.trackId) followTrack(job.trackId, job.track, job.options, { resume: true });
}

function followAnalysis(track) {
  // A track opened from the library whose tempo and key are not known yet: the server
  // pushes trackAnalysis for a plain getTrackInfo once it has analysed it.
  const requestId = newRequestId();
  socket.handlers.set(requestId, (message) => {
    if (message.type === "trackAnalysis") {
      socket.handlers.delete(requestId);
      onAnalysis(message);
    } else if (message.type === "trackInfo" && message.analysis !== "pending") {
      socket.handlers.delete(requestId);
      onAnalysis(message);
    } else if (message.type === "error") {
      socket.handlers.delete(requestId);
    }
  });
  send({ command: "getTrackInfo", trackId: track.trackId, requestId });
}

function mergeTrack(update) {
  if (!job.track || job.track.trackId !== update.trackId) return null;
  const fields = ["bpm", "key", "mode", "keyName", "camelot", "analysis"];
  for (const name of fields) if (name in update) job.track[name] = update[name];
  return job.track;
}

function onAnalysis(message) {
  stats.analyses += 1;
  const track = mergeTrack(message);
  if (track) {
    showTrackLine($("job-track"), track);
    if (mixer.trackId === track.trackId) showTrackLine($("player-track"), track);
  }
  refreshLibrary();
}

function onJobMessage(message) {
  switch (message.type) {
    case "trackInfo":
      job.track = { ...(job.track || {}), ...message };
      job.analysisPending = message.analysis === "pending";
      showTrackLine($("job-track"), job.track);
      break;
    case "trackAnalysis":
      job.analysisPending = false;
      onAnalysis(message);
      if (job.stemsDone) socket.handlers.delete(message.requestId);
      break;
    case "progress": {
      const labels = { queued: "Queued", decoding: "Decoding", separating: "Separating", writing: "Writing stems", complete: "Complete" };
      setJob({
        stage: message.stage, label: labels[message.stage] || message.stage, progress: message.progress,
        eta: message.etaSeconds, queue: message.queuePosition,
      });
      if (message.stage === "queued" || message.stage === "complete") refreshQueue();
      break;
    }
    case "stemChunk":
      if (!job.stemsDone) stats.chunksBeforeReady += 1;
      onChunk(message);
      break;
    case "stemsReady":
      job.active = false;
      job.stemsDone = true;
      // trackAnalysis may still come for this request; otherwise nothing more does.
      if (!job.analysisPending) socket.handlers.delete(message.requestId);
      setJob({ stage: "complete", label: message.cached ? "Complete (from cache)" : "Complete", progress: 1, eta: 0, queue: 0 });
      onStemsReady(message).catch((err) => showError(err.code || "LOAD_FAILED", err.message, { key: "player" }));
      refreshQueue();
      refreshLibrary();
      break;
    case "stemsFailed":
    case "error":
      job.active = false;
      job.stemsDone = true;
      // A failed separation still gets its track's tempo and key, if they are coming.
      if (message.type === "error" || !job.analysisPending) socket.handlers.delete(message.requestId);
      setJob({ stage: "failed", label: "Failed", progress: 0 });
      // The model's own error box already says it when the weights are missing.
      showError(message.error.code, message.error.message,
        { key: message.error.code === "MODEL_UNAVAILABLE" ? "model" : "job" });
      setStreamStatus(mixer.complete ? streamStatusText() : "Separation failed: no more audio will come.");
      refreshQueue();
      break;
    default:
      break;  // unknown types are ignored (PROTOCOL.md section 1)
  }
}

function showTrackLine(element, track) {
  element.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = track.title || "Untitled";
  element.append(title);
  const facts = [];
  const fact = (text, className, label = "") => {
    const span = document.createElement("span");
    span.className = `fact ${className}`;
    span.textContent = text;
    if (label) span.title = label;
    facts.push(span);
  };
  if (track.durationSeconds) fact(clock(track.durationSeconds), "length", "Length");
  if (track.bpm) fact(`${Math.round(track.bpm)} BPM`, "bpm", `Tempo: ${Number(track.bpm).toFixed(1)} beats per minute`);
  const key = keyName(track);
  if (key) fact(key, "key", "Key");
  if (track.camelot) fact(track.camelot, "camelot", `Camelot code ${track.camelot}`);
  if (!track.bpm && !key) {
    if (track.analysis === "pending") fact("analysing tempo and key…", "pending");
    else if (track.analysis === "failed") fact("tempo and key unknown", "pending");
  }
  for (const span of facts) element.append(" · ", span);
}

function setJob({ stage, label, progress, eta = null, queue = null }) {
  const card = $("job");
  card.hidden = false;
  card.dataset.stage = stage;
  const bar = $("job-progress");
  if (progress === null) bar.removeAttribute("value");
  else bar.value = Math.max(Number(bar.value) || 0, progress);
  if (stage === "queued" && progress === 0) bar.value = 0;
  if (stage === "failed") bar.value = 0;
  $("job-stage").textContent = label;
  $("job-percent").textContent = progress === null || stage === "failed" ? "" : `${Math.round((Number(bar.value) || 0) * 100)}%`;
  $("job-eta").textContent = eta !== null && eta !== undefined && stage !== "complete" ? `about ${clock(eta)} left` : "";
  let place = "";
  if (stage !== "complete" && stage !== "failed" && queue !== null && queue !== undefined) {
    place = queue === 0 ? "running now" : `${ordinal(queue)} in the queue`;
  }
  $("job-queue").textContent = place;
  $("job-title").textContent = stage === "complete" ? "Separated" : stage === "failed" ? "Not separated" : "Now separating";
}

// ---- the mixer (Web Audio) --------------------------------------------------------------
//
// Each stem's audio lives in `mixer.stems[name].channels` (one Float32Array per channel),
// filled as stemChunk frames arrive or taken from a decoded WAV. While a job still streams,
// playback uses AudioBuffers of what has arrived from the play position on (`bufferStart`,
// `bufferedFrames` long), made again as more arrives, the sources handed over sample-exactly.
// Once all is here, one AudioBuffer per stem holds the whole stem, and the stem's channels
// become that buffer's own data (one copy of the audio, not two).

const PEAK_BINS = 4096;    // waveform resolution per stem, over the whole track

const mixer = {
  context: null,
  master: null,
  key: null,          // which audio this is: job id + variant
  jobId: null,
  trackId: null,
  track: null,
  model: null,
  variant: null,      // the variant the stems are in (stemsReady's), for the download links
  origin: null,       // "stream" (stemChunk frames) or "fetch" (WAV files over HTTP)
  complete: false,    // all audio is here
  sampleRate: 44100,
  expectedFrames: 0,  // from the track's duration, while streaming
  expected: [],       // stem names expected for the variant
  stems: {},          // name -> {channels, frames, capacity, peaks}
  buffers: {},
  bufferStart: 0,     // first frame the buffers hold
  bufferedFrames: 0,
  fullBuffers: false, // the buffers hold every stem whole
  gains: {},
  sources: {},
  state: {},          // name -> {solo, mute, volume}
  duration: 0,
  playing: false,
  waiting: false,     // playback ran into the end of what has arrived; resumes when more does
  startedAt: 0,       // context time at which offset 0 would have played
  offset: 0,          // position while paused
  position() {
    if (!this.playing) return this.offset;
    return Math.max(0, Math.min(this.duration, this.context.currentTime - this.startedAt));
  },
  availableFrames() {
    const names = this.expected.length ? this.expected : Object.keys(this.stems);
    if (!names.length) return 0;
    let frames = Infinity;
    for (const name of names) frames = Math.min(frames, this.stems[name] ? this.stems[name].frames : 0);
    return Number.isFinite(frames) ? frames : 0;
  },
  availableSeconds() {
    return this.availableFrames() / this.sampleRate;
  },
};
window.stemcastMixer = mixer;

function audioContext() {
  if (!mixer.context) {
    mixer.context = new AudioContext();
    mixer.master = mixer.context.createGain();
    mixer.master.connect(mixer.context.destination);
  }
  return mixer.context;
}

function resetMixer({ key, jobId, track, model, variant, origin, sampleRate, expectedFrames, expected }) {
  stopPlayback(0);
  for (const gain of Object.values(mixer.gains)) gain.disconnect();
  Object.assign(mixer, {
    key, jobId, track, trackId: track ? track.trackId : null, model, variant, origin,
    complete: false, sampleRate, expectedFrames, expected: expected || [], stems: {}, buffers: {},
    bufferStart: 0, bufferedFrames: 0, fullBuffers: false, gains: {}, state: {}, waiting: false, offset: 0,
    duration: expectedFrames ? expectedFrames / sampleRate : 0,
  });
  buildPlayer(track);
  for (const name of mixer.expected) addStem(name, 2, expectedFrames);
}

function addStem(name, channels, capacity) {
  if (mixer.stems[name]) return mixer.stems[name];
  const size = Math.max(1, capacity || 0);
  const stem = {
    channels: Array.from({ length: channels }, () => new Float32Array(size)),
    frames: 0,
    capacity: size,
    peaks: makePeaks(capacity || mixer.expectedFrames || 44100 * 60),
  };
  mixer.stems[name] = stem;
  const gain = audioContext().createGain();
  gain.connect(mixer.master);
  mixer.gains[name] = gain;
  mixer.state[name] = { solo: false, mute: false, volume: 1 };
  addStemRow(name);
  applyGains();
  return stem;
}

function ensureCapacity(stem, frames, channels) {
  while (stem.channels.length < channels) stem.channels.push(new Float32Array(stem.capacity));
  if (frames <= stem.capacity) return;
  const capacity = Math.max(frames, Math.ceil(stem.capacity * 1.5));
  stem.channels = stem.channels.map((old) => {
    const grown = new Float32Array(capacity);
    grown.set(old.subarray(0, stem.frames));
    return grown;
  });
  stem.capacity = capacity;
}

function streamKey(jobId, variant) {
  return `${jobId}|${variant || ""}`;
}

function expectedStems(model, variant) {
  const sources = (model && model.sources) || [];
  const known = VARIANTS.find((v) => v.value === variant);
  if (known && (variant !== "4stems" || FOUR.every((s) => sources.includes(s)))) return [...known.stems];
  return [...sources];
}

function onChunk(message) {
  stats.chunks += 1;
  stats.chunkBytes += message.data ? message.data.byteLength : 0;
  const variant = job.options.variant || null;
  const key = streamKey(message.jobId, variant);
  if (mixer.key !== key || mixer.origin !== "stream") {
    const models = socket.server ? serverModels(socket.server) : [];
    const model = models.find((m) => m.name === job.options.model) || models.find((m) => m.default) || null;
    const frames = Math.round(((job.track && job.track.durationSeconds) || 0) * message.sampleRate);
    resetMixer({
      key, jobId: message.jobId, track: job.track, model: model ? model.name : null, variant,
      origin: "stream", sampleRate: message.sampleRate, expectedFrames: frames,
      expected: expectedStems(model, variant),
    });
    setStreamStatus("Stems are arriving while they separate…");
  }
  if (mixer.complete) return;  // asked again (a reconnect): this audio is already whole here
  if (mixer.expected.length && !mixer.expected.includes(message.stem)) {
    // Not the stems this page foresaw: go by what the server sends.
    for (const [name, stem] of Object.entries(mixer.stems)) if (!stem.frames) dropStem(name);
    mixer.expected = [];
  }
  const stem = addStem(message.stem, message.channels, Math.max(mixer.expectedFrames, message.startFrame + message.frames));
  writeChunk(stem, message);
  updatePeaks(stem, message.startFrame, message.startFrame + message.frames);
  scheduleDraw();
  $("play").disabled = mixer.availableFrames() === 0;
  setStreamStatus(streamStatusText());
  if (mixer.waiting && mixer.availableFrames() > mixer.bufferStart + mixer.bufferedFrames) {
    mixer.waiting = false;
    startPlayback(mixer.offset);
  }
}

function writeChunk(stem, message) {
  const { startFrame, frames, channels } = message;
  if (!stem.frames && stem.channels.length !== channels) {
    stem.channels = Array.from({ length: channels }, () => new Float32Array(stem.capacity));
  }
  ensureCapacity(stem, startFrame + frames, channels);
  // A copy: msgpack's bin is a view at any byte offset, typed arrays need alignment.
  const bytes = message.data.slice();
  let samples;
  let scale;
  if (message.encoding === "pcm_f32le") {
    samples = new Float32Array(bytes.buffer, 0, frames * channels);
    scale = 1;
  } else {
    samples = new Int16Array(bytes.buffer, 0, frames * channels);
    scale = 1 / 32768;
  }
  for (let c = 0; c < channels; c += 1) {
    const target = stem.channels[c];
    for (let i = 0, j = c; i < frames; i += 1, j += channels) target[startFrame + i] = samples[j] * scale;
  }
  if (startFrame <= stem.frames) stem.frames = Math.max(stem.frames, startFrame + frames);
}

async function onStemsReady(message) {
  const names = Object.keys(message.stems);
  const streamed = mixer.origin === "stream" && mixer.jobId === message.jobId
    && mixer.key === streamKey(message.jobId, job.options.variant || null)
    && names.length > 0 && names.every((n) => mixer.stems[n] && mixer.stems[n].frames > 0)
    && new Set(names.map((n) => mixer.stems[n].frames)).size === 1;
  if (streamed) {
    stats.readyAfterChunks += 1;
    completeStream(message);
    return;
  }
  const models = socket.server ? serverModels(socket.server) : [];
  const model = models.find((m) => m.name === message.model);
  const variant = message.variant && model && message.variant === nativeVariant(model.sources) ? null : message.variant;
  await loadStems(message.jobId, names, job.track, { model: message.model, variant, waveforms: message.waveforms });
}

function completeStream(message) {
  const names = byStemOrder(Object.keys(message.stems));
  for (const name of Object.keys(mixer.stems)) {
    if (!names.includes(name)) dropStem(name);
  }
  const frames = mixer.stems[names[0]].frames;
  for (const name of names) {
    const stem = mixer.stems[name];
    stem.channels = stem.channels.map((data) => data.subarray(0, frames));
    stem.capacity = frames;
  }
  mixer.expected = names;
  mixer.expectedFrames = frames;
  mixer.duration = frames / mixer.sampleRate;
  mixer.model = message.model;
  const models = socket.server ? serverModels(socket.server) : [];
  const model = models.find((m) => m.name === message.model);
  mixer.variant = message.variant && model && message.variant === nativeVariant(model.sources) ? null : message.variant;
  const resume = mixer.waiting;
  mixer.complete = true;
  mixer.waiting = false;
  mixer.fullBuffers = false;
  if (mixer.playing) startPlayback(0, { handover: true });
  else {
    makeFullBuffers();
    if (resume) startPlayback(mixer.offset);
  }
  $("play").disabled = false;
  setStreamStatus(streamStatusText());
  updateDownloadLinks();
  drawWaveforms();
}

function dropStem(name) {
  if (mixer.gains[name]) mixer.gains[name].disconnect();
  delete mixer.stems[name];
  delete mixer.gains[name];
  delete mixer.state[name];
  delete mixer.buffers[name];
  const row = document.querySelector(`.stem[data-stem="${CSS.escape(name)}"]`);
  if (row) row.remove();
}

async function loadStems(jobId, names, track, { model = null, variant = null, waveforms = null } = {}) {
  const sorted = byStemOrder(names);
  const context = audioContext();
  resetMixer({
    key: streamKey(jobId, variant), jobId, track, model, variant, origin: "fetch",
    sampleRate: context.sampleRate, expectedFrames: 0, expected: [],
  });
  setStreamStatus("Loading the stems…");
  const overview = overviewPeaks(waveforms, sorted);
  for (const name of sorted) {
    const row = addStemRow(name);
    if (overview[name]) row.peaks = overview[name];
  }
  drawWaveforms();
  const decoded = await Promise.all(sorted.map(async (name) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const url = withQuery(`/api/stems/${encodeURIComponent(jobId)}/${encodeURIComponent(name)}.wav`, { variant });
    const response = await fetch(url, { headers });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const error = body.error || {};
      throw new ApiError(error.code || `HTTP_${response.status}`, error.message || `could not load the ${name} stem`, response.status);
    }
    stats.fetchedStems += 1;
    return [name, await context.decodeAudioData(await response.arrayBuffer())];
  }));
  if (mixer.key !== streamKey(jobId, variant) || mixer.origin !== "fetch") return;  // replaced meanwhile
  for (const [name, buffer] of decoded) {
    const stem = addStem(name, buffer.numberOfChannels, 1);
    stem.channels = Array.from({ length: buffer.numberOfChannels }, (_, i) => buffer.getChannelData(i));
    stem.frames = buffer.length;
    stem.capacity = buffer.length;
    stem.peaks = makePeaks(buffer.length);
    updatePeaks(stem, 0, buffer.length);
  }
  mixer.expected = sorted;
  mixer.sampleRate = decoded[0][1].sampleRate;
  mixer.expectedFrames = Math.max(...decoded.map(([, b]) => b.length));
  mixer.duration = Math.max(...decoded.map(([, b]) => b.duration));
  mixer.buffers = Object.fromEntries(decoded);
  mixer.bufferStart = 0;
  mixer.bufferedFrames = Math.min(...decoded.map(([, b]) => b.length));
  mixer.fullBuffers = true;
  mixer.complete = true;
  $("play").disabled = false;
  applyGains();
  setStreamStatus(streamStatusText());
  updateDownloadLinks();
  drawWaveforms();
}

function rebuildBuffers(from = 0) {
  // AudioBuffers of what has arrived, from frame `from` on.
  const frames = mixer.availableFrames() - from;
  if (frames <= 0) return false;
  const context = audioContext();
  const buffers = {};
  for (const name of mixer.expected.length ? mixer.expected : Object.keys(mixer.stems)) {
    const stem = mixer.stems[name];
    const buffer = context.createBuffer(stem.channels.length, frames, mixer.sampleRate);
    stem.channels.forEach((data, c) => buffer.copyToChannel(data.subarray(from, from + frames), c));
    buffers[name] = buffer;
  }
  mixer.buffers = buffers;
  mixer.bufferStart = from;
  mixer.bufferedFrames = frames;
  mixer.fullBuffers = false;
  return true;
}

function makeFullBuffers() {
  if (mixer.fullBuffers || !rebuildBuffers(0)) return;
  for (const [name, buffer] of Object.entries(mixer.buffers)) {
    const stem = mixer.stems[name];
    stem.channels = Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c));
    stem.capacity = buffer.length;
  }
  mixer.fullBuffers = true;
}

function applyGains() {
  const anySolo = Object.values(mixer.state).some((s) => s.solo);
  for (const [name, state] of Object.entries(mixer.state)) {
    const audible = !state.mute && (!anySolo || state.solo);
    const value = audible ? state.volume : 0;
    const gain = mixer.gains[name];
    if (!gain) continue;
    gain.gain.cancelScheduledValues(0);
    gain.gain.value = value;
    const row = document.querySelector(`.stem[data-stem="${CSS.escape(name)}"]`);
    if (row) row.classList.toggle("silent", !audible);
  }
}

function startPlayback(offset, { handover = false } = {}) {
  const context = audioContext();
  if (context.state === "suspended") context.resume();
  const when = context.currentTime + 0.05;
  // A handover continues exactly where the old sources are at `when`.
  if (handover && mixer.playing) offset = when - mixer.startedAt;
  offset = Math.max(0, offset);
  if (mixer.complete) {
    makeFullBuffers();
  } else if (!rebuildBuffers(Math.floor(offset * mixer.sampleRate))) {
    return;  // nothing here yet from that point on
  }
  if (!mixer.bufferedFrames) return;
  if (handover) stats.handovers += 1;
  else if (!mixer.complete) stats.playsWhileStreaming += 1;
  const start = mixer.bufferStart / mixer.sampleRate;
  const end = start + mixer.bufferedFrames / mixer.sampleRate;
  offset = Math.max(start, Math.min(offset, end));
  const old = mixer.sources;
  mixer.sources = {};
  for (const [name, buffer] of Object.entries(mixer.buffers)) {
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(mixer.gains[name]);
    source.start(when, Math.min(offset - start, buffer.duration));
    mixer.sources[name] = source;
  }
  for (const source of Object.values(old)) {
    source.onended = () => source.disconnect();
    try { source.stop(handover ? when : 0); } catch { source.disconnect(); }
  }
  const wasPlaying = mixer.playing;
  mixer.startedAt = when - offset;
  mixer.playing = true;
  mixer.waiting = false;
  setPlayButton();
  if (!wasPlaying) requestAnimationFrame(tick);
}

function stopSources() {
  for (const source of Object.values(mixer.sources)) {
    try { source.stop(); } catch { /* never started */ }
    source.disconnect();
  }
  mixer.sources = {};
}

function stopPlayback(offset) {
  stopSources();
  mixer.playing = false;
  mixer.offset = offset;
  setPlayButton();
  drawPlayhead();
}

function seek(seconds) {
  const limit = mixer.complete ? mixer.duration : mixer.availableSeconds();
  const target = Math.max(0, Math.min(limit, seconds));
  mixer.waiting = false;
  if (mixer.playing) startPlayback(target);
  else { mixer.offset = target; drawPlayhead(); }
}

function togglePlay() {
  if (mixer.playing) {
    stopPlayback(mixer.position());
  } else if (mixer.waiting) {
    mixer.waiting = false;  // a second press while waiting for audio: stay paused
    setPlayButton();
  } else {
    const limit = mixer.complete ? mixer.duration : mixer.availableSeconds();
    startPlayback(mixer.offset >= limit - 0.05 && mixer.complete ? 0 : mixer.offset);
  }
}

function setPlayButton() {
  if (mixer.jobId && !mixer.complete) setStreamStatus(streamStatusText());
  const button = $("play");
  const label = mixer.playing ? "Pause" : mixer.waiting ? "Waiting" : "Play";
  button.textContent = mixer.waiting ? "Waiting…" : label;
  button.setAttribute("aria-label", mixer.waiting ? "Pause (waiting for audio)" : label);
}

function tick() {
  if (!mixer.playing) return;
  const position = mixer.position();
  if (mixer.complete) {
    if (position >= mixer.duration) { stopPlayback(0); return; }
  } else {
    const buffered = mixer.bufferStart + mixer.bufferedFrames;
    const end = buffered / mixer.sampleRate;
    if (mixer.availableFrames() > buffered && position > end - 2) {
      startPlayback(position, { handover: true });  // more has arrived: carry on into it
    } else if (position >= end - 0.02) {
      stopPlayback(end);                            // ran out: wait for the next chunk
      stats.waits += 1;
      mixer.waiting = true;
      setPlayButton();
      setStreamStatus(streamStatusText());
      return;
    }
  }
  drawPlayhead();
  requestAnimationFrame(tick);
}

function drawPlayhead() {
  const position = mixer.position();
  const fraction = mixer.duration ? Math.min(1, position / mixer.duration) : 0;
  for (const head of document.querySelectorAll(".playhead")) head.style.left = `calc(${(fraction * 100).toFixed(3)}% - 1px)`;
  const slider = $("seek");
  slider.max = String(mixer.duration || 1);
  if (document.activeElement !== slider) slider.value = String(position);
  slider.setAttribute("aria-valuetext", `${clock(position)} of ${clock(mixer.duration)}`);
  $("clock").textContent = `${fineClock(position)} / ${fineClock(mixer.duration)}`;
}

function streamStatusText() {
  if (mixer.complete) {
    return mixer.origin === "stream" ? "All stems here: streamed while they separated."
      : "All stems loaded from the server.";
  }
  const have = mixer.availableSeconds();
  const total = mixer.duration;
  if (!have) return "Stems are arriving while they separate…";
  const now = mixer.waiting ? "Playback waits for the next part."
    : mixer.playing ? "Playing what has arrived; the rest follows." : "Press Play to hear it now.";
  return `Separated so far: ${clock(have)} of ${clock(total)}. ${now}`;
}

function setStreamStatus(text) {
  const line = $("stream-status");
  if (line.textContent !== text) line.textContent = text;
}

// ---- the player's view ------------------------------------------------------------------

function buildPlayer(track) {
  $("player").hidden = false;
  $("player").dataset.complete = "false";
  $("player-track").replaceChildren();
  if (track) showTrackLine($("player-track"), track);
  $("stems").replaceChildren();
  $("play").disabled = true;
  updateDownloadLinks();
  drawPlayhead();
}

function addStemRow(name) {
  const list = $("stems");
  const existing = list.querySelector(`.stem[data-stem="${CSS.escape(name)}"]`);
  if (existing) return existing;
  const row = stemRow(name);
  const after = [...list.children].find((other) => order(other.dataset.stem) > order(name));
  list.insertBefore(row, after || null);
  updateDownloadLinks();
  requestAnimationFrame(drawWaveforms);
  return row;
}

function stemRow(name) {
  const row = document.createElement("div");
  row.className = "stem";
  row.dataset.stem = name;
  row.style.setProperty("--stem-color", STEM_COLORS[name] || "#9fb3c8");
  row.setAttribute("role", "group");
  const label = stemLabel(name);
  row.setAttribute("aria-label", `${label} stem`);

  const controls = document.createElement("div");
  controls.className = "stem-controls";
  const title = document.createElement("span");
  title.className = "stem-name";
  title.textContent = label;
  const solo = toggle("Solo", `Solo ${label}`, "solo", () => {
    const state = mixer.state[name];
    if (!state) return;
    state.solo = !state.solo;
    solo.setAttribute("aria-pressed", String(state.solo));
    applyGains();
  });
  const mute = toggle("Mute", `Mute ${label}`, "mute", () => {
    const state = mixer.state[name];
    if (!state) return;
    state.mute = !state.mute;
    mute.setAttribute("aria-pressed", String(state.mute));
    applyGains();
  });
  const volume = document.createElement("input");
  volume.type = "range";
  volume.min = "0";
  volume.max = "1.5";
  volume.step = "0.01";
  volume.value = "1";
  volume.setAttribute("aria-label", `${label} volume`);
  volume.addEventListener("input", () => {
    if (!mixer.state[name]) return;
    mixer.state[name].volume = Number(volume.value);
    applyGains();
  });
  const download = document.createElement("a");
  download.className = "button download";
  controls.append(title, solo, mute, volume, download);

  const wave = document.createElement("div");
  wave.className = "wave";
  const canvas = document.createElement("canvas");
  canvas.setAttribute("aria-hidden", "true");
  const head = document.createElement("div");
  head.className = "playhead";
  wave.append(canvas, head);
  wave.title = "Click to seek";
  wave.addEventListener("click", (event) => {
    const box = wave.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * mixer.duration);
  });
  row.append(controls, wave);
  return row;
}

function toggle(text, label, kind, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `toggle ${kind}`;
  button.textContent = text;
  button.title = label;
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", onClick);
  return button;
}

function downloadQuery() {
  const choice = downloadChoice();
  return { format: choice.format, bitDepth: choice.bitDepth, bitrate: choice.bitrate, variant: mixer.variant };
}

function updateDownloadLinks() {
  const choice = downloadChoice();
  const ready = mixer.complete && mixer.jobId;
  const query = downloadQuery();
  const zip = $("zip");
  const title = (mixer.track && mixer.track.title) || "stems";
  if (ready) {
    zip.href = withToken(withQuery(`/api/stems/${encodeURIComponent(mixer.jobId)}.zip`, query));
    zip.removeAttribute("aria-disabled");
  } else {
    zip.removeAttribute("href");
    zip.setAttribute("aria-disabled", "true");
  }
  zip.setAttribute("download", `${title}-stems.zip`);
  zip.textContent = `Download all (zip, ${choice.name})`;
  for (const link of document.querySelectorAll(".stem a.download")) {
    const name = link.closest(".stem").dataset.stem;
    link.textContent = choice.format.toUpperCase();
    link.setAttribute("download", `${name}.${choice.format}`);
    link.setAttribute("aria-label", `Download ${stemLabel(name)} as ${choice.name}`);
    link.title = ready ? `Download ${stemLabel(name)} as ${choice.label}` : "Available once the stems are separated";
    if (ready) {
      link.href = withToken(withQuery(`/api/stems/${encodeURIComponent(mixer.jobId)}/${encodeURIComponent(name)}.${choice.format}`, query));
      link.removeAttribute("aria-disabled");
    } else {
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
    }
  }
}

// ---- waveforms --------------------------------------------------------------------------

function makePeaks(frames) {
  const binFrames = Math.max(32, Math.ceil(Math.max(frames, 1) / PEAK_BINS));
  const bins = Math.ceil(Math.max(frames, 1) / binFrames) + 1;
  return { binFrames, min: new Float32Array(bins), max: new Float32Array(bins), frames: 0, peak: 0 };
}

function updatePeaks(stem, from, to) {
  const peaks = stem.peaks;
  const size = peaks.binFrames;
  const needed = Math.ceil(stem.frames / size) + 1;
  if (needed > peaks.min.length) {
    const grow = (old) => { const next = new Float32Array(Math.max(needed, old.length * 2)); next.set(old); return next; };
    peaks.min = grow(peaks.min);
    peaks.max = grow(peaks.max);
  }
  const first = Math.floor(from / size);
  const last = Math.ceil(Math.min(to, stem.frames) / size);
  for (let b = first; b < last; b += 1) {
    const start = b * size;
    const end = Math.min(stem.frames, start + size);
    let min = 0;
    let max = 0;
    for (const data of stem.channels) {
      for (let i = start; i < end; i += 1) {
        const v = data[i];
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    peaks.min[b] = min;
    peaks.max[b] = max;
    peaks.peak = Math.max(peaks.peak, max, -min);
  }
  peaks.frames = stem.frames;
}

function overviewPeaks(waveforms, names) {
  // stemsReady's overview peaks (a few pairs a second): drawn while the WAVs load.
  const result = {};
  if (!Array.isArray(waveforms)) return result;
  for (const entry of waveforms) {
    if (!names.includes(entry.stem_type) || entry.zoom_level !== 1 || !Array.isArray(entry.data)) continue;
    const binFrames = Math.max(1, Math.round(entry.sample_rate / entry.pairs_per_second));
    const bins = Math.floor(entry.data.length / 2);
    const peaks = { binFrames, min: new Float32Array(bins), max: new Float32Array(bins), frames: bins * binFrames, peak: 0 };
    for (let b = 0; b < bins; b += 1) {
      peaks.min[b] = entry.data[2 * b];
      peaks.max[b] = entry.data[2 * b + 1];
      peaks.peak = Math.max(peaks.peak, peaks.max[b], -peaks.min[b]);
    }
    result[entry.stem_type] = peaks;
  }
  return result;
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawWaveforms(); });
}

function drawWaveforms() {
  const totalFrames = mixer.complete ? mixer.expectedFrames
    : Math.max(mixer.expectedFrames, ...Object.values(mixer.stems).map((s) => s.frames), 1);
  for (const row of document.querySelectorAll(".stem")) {
    const stem = mixer.stems[row.dataset.stem];
    const canvas = row.querySelector("canvas");
    const peaks = stem && stem.peaks.frames ? stem.peaks : row.peaks;
    if (!canvas) continue;
    const total = stem && stem.peaks.frames ? totalFrames : (peaks ? peaks.frames : totalFrames);
    drawWave(canvas, peaks, total, getComputedStyle(row).getPropertyValue("--stem-color").trim());
    const complete = mixer.complete && stem && stem.peaks.frames > 0;
    canvas.dataset.drawn = complete ? "true" : peaks && peaks.frames ? (stem && stem.peaks.frames ? "partial" : "overview") : "empty";
    canvas.dataset.filled = peaks && total ? Math.min(1, peaks.frames / total).toFixed(3) : "0";
  }
  $("player").dataset.complete = String(Boolean(mixer.complete));
  drawPlayhead();
}

function drawWave(canvas, peaks, totalFrames, color) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const mid = height / 2;
  const filledFrames = peaks ? Math.min(peaks.frames, totalFrames) : 0;
  const filledX = totalFrames ? Math.round((filledFrames / totalFrames) * width) : 0;
  // Not yet separated: a dim band with a dashed centre line.
  if (filledX < width) {
    g.fillStyle = "rgba(255, 255, 255, 0.045)";
    g.fillRect(filledX, 0, width - filledX, height);
    g.strokeStyle = "rgba(255, 255, 255, 0.18)";
    g.setLineDash([4 * ratio, 4 * ratio]);
    g.beginPath();
    g.moveTo(filledX, mid);
    g.lineTo(width, mid);
    g.stroke();
    g.setLineDash([]);
  }
  if (!peaks || !filledX) return;
  const binsPerPixel = totalFrames / peaks.binFrames / width;
  const filledBins = Math.ceil(filledFrames / peaks.binFrames);
  const scale = (mid - 2) / Math.max(peaks.peak, 0.05);
  g.fillStyle = color || "#5fb3ff";
  for (let x = 0; x < filledX; x += 1) {
    const b0 = Math.floor(x * binsPerPixel);
    const b1 = Math.min(filledBins, Math.max(b0 + 1, Math.floor((x + 1) * binsPerPixel)));
    let min = 0;
    let max = 0;
    for (let b = b0; b < b1; b += 1) {
      if (peaks.min[b] < min) min = peaks.min[b];
      if (peaks.max[b] > max) max = peaks.max[b];
    }
    const top = mid - max * scale;
    const bottom = mid - min * scale;
    g.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

// ---- library and queue ------------------------------------------------------------------

async function refreshLibrary() {
  try {
    const { tracks } = await api("/api/tracks");
    clearError("library");
    const body = $("library");
    body.replaceChildren();
    for (const track of tracks) {
      const row = document.createElement("tr");
      row.dataset.trackId = track.trackId;
      row.dataset.analysis = track.analysis || "";
      if (track.trackId === job.trackId) row.className = "current";
      const title = cell(track.title || track.filePath.split("/").pop(), "title");
      title.title = track.filePath;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "small";
      open.textContent = "Open";
      open.setAttribute("aria-label", `Open ${track.title || "track"}`);
      open.addEventListener("click", () => openTrack(track));
      const action = document.createElement("td");
      action.append(open);
      const pending = track.analysis === "pending";
      const bpm = cell(track.bpm ? String(Math.round(track.bpm)) : pending ? "…" : "–", "num bpm");
      const key = cell("", "key");
      const name = keyName(track);
      key.append(name || (pending ? "…" : "–"));
      if (track.camelot) {
        const camelot = document.createElement("span");
        camelot.className = "camelot";
        camelot.textContent = track.camelot;
        camelot.title = `Camelot code ${track.camelot}`;
        key.append(" ", camelot);
      }
      if (pending) { bpm.title = "analysing"; key.title = "analysing"; }
      row.append(title, cell(clock(track.durationSeconds), "num"), bpm, key, action);
      body.append(row);
    }
    $("library-empty").hidden = tracks.length > 0;
  } catch (err) {
    showError(err.code, `the library could not be loaded: ${err.message}`, { key: "library" });
  }
}

async function openTrack(track) {
  clearJobErrors();
  stopFollowing();
  job.trackId = track.trackId;
  job.track = { ...track };
  try {
    const found = await api(`/api/tracks/${encodeURIComponent(track.trackId)}/stems`);
    setJob({ stage: "complete", label: "Complete (separated before)", progress: 1 });
    showTrackLine($("job-track"), job.track);
    if (track.analysis === "pending") followAnalysis(track);
    await loadStems(found.jobId, Object.keys(found.stems), job.track, { model: found.model });
  } catch (err) {
    if (err.code === "NO_STEMS") followTrack(track.trackId, job.track, chosenOptions());
    else showError(err.code, err.message, { key: "job" });
  }
}

let queueTimer = null;
async function refreshQueue() {
  clearTimeout(queueTimer);
  try {
    const { jobs } = await api("/queue");
    clearError("queue");
    const titles = new Map([...$("library").querySelectorAll("tr")].map((tr) => [tr.dataset.trackId, tr.firstChild.textContent]));
    const body = $("queue");
    body.replaceChildren();
    for (const item of jobs) {
      const row = document.createElement("tr");
      const state = item.state === "running" ? `${item.stage}` : `waiting (${ordinal(item.queuePosition)})`;
      row.append(cell(titles.get(item.trackId) || (item.trackId || item.jobId).slice(0, 8), "title"),
        cell(state, `state-${item.state}`), cell(item.priority),
        cell(`${Math.round(item.progress * 100)}%`, "num"));
      body.append(row);
    }
    $("queue-empty").hidden = jobs.length > 0;
    // The socket pushes our own job; other clients' jobs are only seen here, so look
    // again now and then while something runs.
    if (jobs.length && !document.hidden) queueTimer = setTimeout(refreshQueue, 3000);
  } catch (err) {
    if (err.code !== "CONNECTION") showError(err.code, `the queue could not be loaded: ${err.message}`, { key: "queue" });
  }
}

function cell(text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// ---- wiring -----------------------------------------------------------------------------

function wire() {
  const drop = $("drop");
  const input = $("file-input");
  input.addEventListener("change", () => chooseFile(input.files[0]));
  drop.tabIndex = 0;
  input.tabIndex = -1;  // the drop zone is the keyboard control for it
  drop.setAttribute("role", "button");
  drop.setAttribute("aria-describedby", "file-name");
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation();
    const file = event.dataTransfer.files[0];
    if (file) chooseFile(file);
  });
  // A file dropped anywhere on the page counts; the browser must not open it instead.
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files[0]) chooseFile(event.dataTransfer.files[0]);
  });
  $("url-input").addEventListener("input", () => {
    if ($("url-input").value.trim()) { chosenFile = null; input.value = ""; $("file-name").textContent = ""; }
    updateStart();
  });
  $("model-select").addEventListener("change", showVariants);
  $("format-select").addEventListener("change", () => {
    localStorage.setItem(DOWNLOAD_KEY, $("format-select").value);
    updateDownloadLinks();
  });
  $("start-form").addEventListener("submit", startSeparation);
  $("play").addEventListener("click", togglePlay);
  $("seek").addEventListener("input", () => seek(Number($("seek").value)));
  $("library-refresh").addEventListener("click", refreshLibrary);
  $("queue-refresh").addEventListener("click", refreshQueue);
  $("token-input").value = token;
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token-input").value.trim();
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
    clearError("connection");
    updateDownloadLinks();
    if (socket.ws) socket.ws.close();
    else connect();
  });
  $("token-clear").addEventListener("click", () => {
    token = "";
    $("token-input").value = "";
    localStorage.removeItem(TOKEN_KEY);
    updateDownloadLinks();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshQueue(); });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawWaveforms, 150);
  });
}

wire();
showDownloadFormats(null);
msgpackLoaded.then(() => {
  stats.transport = msgpack ? "msgpack" : "json";
  connect();
});
