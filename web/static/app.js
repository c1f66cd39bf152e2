// stemcast's browser page: upload or fetch a song, follow its job over the WebSocket,
// then play, mix and download its stems. Plain ES module, no build step.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "stemcast.token";
const STEM_COLORS = {
  drums: "#ff9f5a", bass: "#b48cff", other: "#4fd1c5", vocals: "#ff7eb6",
  guitar: "#ffd75e", piano: "#7ec8ff",
};
const FRIENDLY = {
  NOT_AUDIO: "This file is not audio stemcast can read.",
  EMPTY_AUDIO: "This file holds no audio.",
  UNSUPPORTED_AUDIO: "stemcast does not separate this kind of audio.",
  TRACK_TOO_LONG: "This song is too long for this server.",
  MODEL_UNAVAILABLE: "The server has no model weights, so it cannot separate songs yet.",
  UPLOAD_TOO_LARGE: "The file is too large for this server.",
  FETCH_FAILED: "The server could not download that link.",
  FETCH_TIMEOUT: "Downloading that link took too long.",
  UNAUTHORIZED: "This server needs an access token.",
  SEPARATION_FAILED: "Separation failed.",
  WORKER_CRASHED: "The separation process crashed.",
  STEMS_REMOVED: "The stems of this track were removed from the server's disk.",
  CONNECTION: "The connection to the server was lost.",
};

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
    item.dataset.code = code;
    const text = document.createElement("p");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "ghost small";
    close.textContent = "Dismiss";
    close.addEventListener("click", () => item.remove());
    item.append(text, close);
    box.append(item);
  }
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
function keyName(key, mode) {
  if (key === null || key === undefined || key === "") return "–";
  const name = KEYS[Number(key)] ?? String(key);
  return mode === "0" ? `${name}m` : name;
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

// ---- the WebSocket ----------------------------------------------------------------------

const socket = {
  ws: null,
  delay: 500,
  timer: null,
  handlers: new Map(),     // requestId -> message handler
  pending: [],             // frames to send once open
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

function connect() {
  clearTimeout(socket.timer);
  setConn("connecting", "Connecting…");
  const ws = new WebSocket(wsUrl());
  socket.ws = ws;
  ws.addEventListener("open", () => {
    socket.delay = 500;
    setConn("open", "Connected");
    clearError("connection");
    ws.send(JSON.stringify({ command: "hello", client: "stemcast-web", protocolVersion: 1 }));
    for (const frame of socket.pending.splice(0)) ws.send(frame);
    resumeJob();
    refreshLibrary();
    refreshQueue();
  });
  ws.addEventListener("message", (event) => {
    if (typeof event.data !== "string") return;  // JSON client: text frames only
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    onMessage(message);
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
  const frame = JSON.stringify(message);
  if (socket.ws && socket.ws.readyState === WebSocket.OPEN) socket.ws.send(frame);
  else socket.pending.push(frame);
}

function onMessage(message) {
  if (message.type === "hello") {
    socket.server = message;
    showModel(message);
    return;
  }
  const handler = socket.handlers.get(message.requestId);
  if (handler) handler(message);
}

function showModel(hello) {
  const status = hello.modelStatus;
  const line = $("model-line");
  line.textContent = `server ${hello.serverVersion} · model ${hello.model ?? "none"} (${status})`;
  const model = $("model-select");
  model.replaceChildren(new Option(hello.model ? `${hello.model}${status === "ready" ? "" : ` (${status})`}` : "no model", hello.model || ""));
  const variant = $("variant-select");
  const sources = hello.sources || [];
  variant.replaceChildren(new Option(sources.length ? `${sources.length} stems: ${sources.join(", ")}` : "the model's stems", sources.join(",")));
  if (status === "unavailable") {
    showError("MODEL_UNAVAILABLE", hello.modelError || "", { key: "model" });
  } else {
    clearError("model");
  }
  updateStart();
}

// ---- starting a job ---------------------------------------------------------------------

let chosenFile = null;
const job = { active: false, requestId: null, trackId: null, track: null, counter: 0 };

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

async function startSeparation(event) {
  event.preventDefault();
  clearJobErrors();
  const url = $("url-input").value.trim();
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
    followTrack(track.trackId, track);
    refreshLibrary();
  } catch (err) {
    setJob({ stage: "failed", label: "Failed", progress: 0 });
    showError(err.code, err.message, { key: "job" });
  } finally {
    job.busy = false;
    updateStart();
  }
}

function followTrack(trackId, track = null) {
  job.counter += 1;
  if (job.requestId) socket.handlers.delete(job.requestId);
  job.requestId = `web-${Date.now().toString(36)}-${job.counter}`;
  job.trackId = trackId;
  job.track = track;
  job.active = true;
  socket.handlers.set(job.requestId, onJobMessage);
  if (track) showTrackLine($("job-track"), track);
  setJob({ stage: "queued", label: "Sent to the server", progress: 0 });
  send({ command: "getTrackInfo", trackId, stems: true, requestId: job.requestId });
}

function resumeJob() {
  // After a reconnect: ask again; the server joins the running job (or answers from cache).
  if (job.active && job.trackId) followTrack(job.trackId, job.track);
}

function onJobMessage(message) {
  switch (message.type) {
    case "trackInfo":
      job.track = message;
      showTrackLine($("job-track"), message);
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
    case "stemsReady":
      job.active = false;
      socket.handlers.delete(message.requestId);
      setJob({ stage: "complete", label: message.cached ? "Complete (from cache)" : "Complete", progress: 1, eta: 0, queue: 0 });
      loadStems(message.jobId, Object.keys(message.stems), job.track).catch((err) => showError(err.code || "LOAD_FAILED", err.message, { key: "player" }));
      refreshQueue();
      refreshLibrary();
      break;
    case "stemsFailed":
    case "error":
      job.active = false;
      socket.handlers.delete(message.requestId);
      setJob({ stage: "failed", label: "Failed", progress: 0 });
      // The model's own error box already says it when the weights are missing.
      showError(message.error.code, message.error.message,
        { key: message.error.code === "MODEL_UNAVAILABLE" ? "model" : "job" });
      refreshQueue();
      break;
    default:
      break;
  }
}

function showTrackLine(element, track) {
  element.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = track.title || "Untitled";
  element.append(title);
  const facts = [];
  if (track.durationSeconds) facts.push(clock(track.durationSeconds));
  if (track.bpm) facts.push(`${Math.round(track.bpm)} BPM`);
  if (track.key !== null && track.key !== undefined) facts.push(`key ${keyName(track.key, track.mode)}`);
  if (facts.length) element.append(` · ${facts.join(" · ")}`);
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

const mixer = {
  context: null,
  master: null,
  jobId: null,
  buffers: {},
  gains: {},
  sources: {},
  state: {},          // name -> {solo, mute, volume}
  duration: 0,
  playing: false,
  startedAt: 0,       // context time at which offset 0 would have played
  offset: 0,          // position while paused
  position() {
    if (!this.playing) return this.offset;
    return Math.min(this.duration, this.context.currentTime - this.startedAt);
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

async function loadStems(jobId, names, track) {
  stopPlayback(0);
  const context = audioContext();
  const sorted = [...names].sort((a, b) => order(a) - order(b));
  const decoded = await Promise.all(sorted.map(async (name) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(`/api/stems/${encodeURIComponent(jobId)}/${encodeURIComponent(name)}.wav`, { headers });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const error = body.error || {};
      throw new ApiError(error.code || `HTTP_${response.status}`, error.message || `could not load the ${name} stem`, response.status);
    }
    return [name, await context.decodeAudioData(await response.arrayBuffer())];
  }));
  for (const gain of Object.values(mixer.gains)) gain.disconnect();
  mixer.jobId = jobId;
  mixer.buffers = Object.fromEntries(decoded);
  mixer.gains = {};
  mixer.state = {};
  mixer.duration = Math.max(...decoded.map(([, buffer]) => buffer.duration));
  for (const [name] of decoded) {
    const gain = context.createGain();
    gain.connect(mixer.master);
    mixer.gains[name] = gain;
    mixer.state[name] = { solo: false, mute: false, volume: 1 };
  }
  buildPlayer(jobId, sorted, track);
  applyGains();
  mixer.offset = 0;
  drawPlayhead();
}

function order(name) {
  const known = ["drums", "bass", "other", "vocals", "guitar", "piano"];
  const index = known.indexOf(name);
  return index === -1 ? known.length : index;
}

function applyGains() {
  const anySolo = Object.values(mixer.state).some((s) => s.solo);
  for (const [name, state] of Object.entries(mixer.state)) {
    const audible = !state.mute && (!anySolo || state.solo);
    const value = audible ? state.volume : 0;
    const gain = mixer.gains[name];
    gain.gain.cancelScheduledValues(0);
    gain.gain.value = value;
    const row = document.querySelector(`.stem[data-stem="${CSS.escape(name)}"]`);
    if (row) row.classList.toggle("silent", !audible);
  }
}

function startPlayback(offset) {
  const context = audioContext();
  if (context.state === "suspended") context.resume();
  stopSources();
  const when = context.currentTime + 0.05;
  for (const [name, buffer] of Object.entries(mixer.buffers)) {
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(mixer.gains[name]);
    source.start(when, Math.min(offset, buffer.duration));
    mixer.sources[name] = source;
  }
  mixer.startedAt = when - offset;
  mixer.playing = true;
  setPlayButton();
  requestAnimationFrame(tick);
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
  const target = Math.max(0, Math.min(mixer.duration, seconds));
  if (mixer.playing) startPlayback(target);
  else { mixer.offset = target; drawPlayhead(); }
}

function setPlayButton() {
  const button = $("play");
  button.textContent = mixer.playing ? "Pause" : "Play";
  button.setAttribute("aria-label", mixer.playing ? "Pause" : "Play");
}

function tick() {
  if (!mixer.playing) return;
  if (mixer.position() >= mixer.duration) {
    stopPlayback(0);
    return;
  }
  drawPlayhead();
  requestAnimationFrame(tick);
}

function drawPlayhead() {
  const position = mixer.position();
  const fraction = mixer.duration ? position / mixer.duration : 0;
  for (const head of document.querySelectorAll(".playhead")) head.style.left = `calc(${(fraction * 100).toFixed(3)}% - 1px)`;
  const slider = $("seek");
  slider.max = String(mixer.duration || 1);
  if (document.activeElement !== slider) slider.value = String(position);
  $("clock").textContent = `${fineClock(position)} / ${fineClock(mixer.duration)}`;
}

// ---- the player's view ------------------------------------------------------------------

function buildPlayer(jobId, names, track) {
  $("player").hidden = false;
  if (track) showTrackLine($("player-track"), track);
  $("zip").href = withToken(`/api/stems/${encodeURIComponent(jobId)}.zip`);
  $("zip").setAttribute("download", `${(track && track.title) || "stems"}-stems.zip`);
  const list = $("stems");
  list.replaceChildren();
  for (const name of names) list.append(stemRow(jobId, name));
  requestAnimationFrame(drawWaveforms);
}

function stemRow(jobId, name) {
  const row = document.createElement("div");
  row.className = "stem";
  row.dataset.stem = name;
  row.style.setProperty("--stem-color", STEM_COLORS[name] || "#9fb3c8");
  row.setAttribute("role", "group");
  row.setAttribute("aria-label", `${name} stem`);

  const controls = document.createElement("div");
  controls.className = "stem-controls";
  const title = document.createElement("span");
  title.className = "stem-name";
  title.textContent = name;
  const solo = toggle("Solo", `Solo ${name}`, "solo", () => {
    mixer.state[name].solo = !mixer.state[name].solo;
    solo.setAttribute("aria-pressed", String(mixer.state[name].solo));
    applyGains();
  });
  const mute = toggle("Mute", `Mute ${name}`, "mute", () => {
    mixer.state[name].mute = !mixer.state[name].mute;
    mute.setAttribute("aria-pressed", String(mixer.state[name].mute));
    applyGains();
  });
  const volume = document.createElement("input");
  volume.type = "range";
  volume.min = "0";
  volume.max = "1.5";
  volume.step = "0.01";
  volume.value = "1";
  volume.setAttribute("aria-label", `${name} volume`);
  volume.addEventListener("input", () => {
    mixer.state[name].volume = Number(volume.value);
    applyGains();
  });
  const download = document.createElement("a");
  download.className = "button";
  download.href = withToken(`/api/stems/${encodeURIComponent(jobId)}/${encodeURIComponent(name)}.wav`);
  download.setAttribute("download", `${name}.wav`);
  download.textContent = "WAV";
  download.setAttribute("aria-label", `Download ${name} as WAV`);
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

function drawWaveforms() {
  for (const row of document.querySelectorAll(".stem")) {
    const buffer = mixer.buffers[row.dataset.stem];
    const canvas = row.querySelector("canvas");
    if (buffer && canvas) drawWave(canvas, buffer, getComputedStyle(row).getPropertyValue("--stem-color").trim());
  }
  drawPlayhead();
}

function drawWave(canvas, buffer, color) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const channels = Array.from({ length: buffer.numberOfChannels }, (_, i) => buffer.getChannelData(i));
  const frames = buffer.length;
  const perPixel = frames / width;
  const mid = height / 2;
  g.fillStyle = color || "#5fb3ff";
  let peak = 0;
  const columns = new Float32Array(width * 2);
  for (let x = 0; x < width; x += 1) {
    const start = Math.floor(x * perPixel);
    const end = Math.min(frames, Math.max(start + 1, Math.floor((x + 1) * perPixel)));
    let min = 0;
    let max = 0;
    for (const data of channels) {
      for (let i = start; i < end; i += 1) {
        const v = data[i];
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    columns[2 * x] = min;
    columns[2 * x + 1] = max;
    peak = Math.max(peak, max, -min);
  }
  const scale = (mid - 2) / Math.max(peak, 0.05);
  for (let x = 0; x < width; x += 1) {
    const top = mid - columns[2 * x + 1] * scale;
    const bottom = mid - columns[2 * x] * scale;
    g.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
  canvas.dataset.drawn = "true";
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
      row.append(title, cell(clock(track.durationSeconds), "num"),
        cell(track.bpm ? String(Math.round(track.bpm)) : "–", "num"),
        cell(keyName(track.key, track.mode)), action);
      body.append(row);
    }
    $("library-empty").hidden = tracks.length > 0;
  } catch (err) {
    showError(err.code, `the library could not be loaded: ${err.message}`, { key: "library" });
  }
}

async function openTrack(track) {
  clearJobErrors();
  job.trackId = track.trackId;
  job.track = track;
  try {
    const found = await api(`/api/tracks/${encodeURIComponent(track.trackId)}/stems`);
    setJob({ stage: "complete", label: "Complete (separated before)", progress: 1 });
    showTrackLine($("job-track"), track);
    await loadStems(found.jobId, Object.keys(found.stems), track);
  } catch (err) {
    if (err.code === "NO_STEMS") followTrack(track.trackId, track);
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
  $("start-form").addEventListener("submit", startSeparation);
  $("play").addEventListener("click", () => {
    if (mixer.playing) stopPlayback(mixer.position());
    else startPlayback(mixer.offset >= mixer.duration ? 0 : mixer.offset);
  });
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
    if (socket.ws) socket.ws.close();
    else connect();
  });
  $("token-clear").addEventListener("click", () => {
    token = "";
    $("token-input").value = "";
    localStorage.removeItem(TOKEN_KEY);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshQueue(); });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawWaveforms, 150);
  });
}

wire();
connect();
