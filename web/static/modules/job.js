// The job card: starting a separation, following its request over the socket, the progress shown.

import { $, keyName, clock, ordinal } from "./dom.js";
import { stats } from "./stats.js";
import { api } from "./http.js";
import { showError, clearJobErrors } from "./errors.js";
import { usesMsgpack, socket, send } from "./connection.js";
import { mixer, onChunk, onStemsReady, streamStatusText, setStreamStatus } from "./mixer.js";
import { refreshLibrary, refreshQueue } from "./library.js";
import { showMidi, probeMidi } from "./downloads.js";
import { loadGrid } from "./timeline.js";
import { gridLoaded } from "./mixer.js";

let chosenFile = null;
export const job = {
  active: false, busy: false, requestId: null, trackId: null, track: null, counter: 0,
  options: {}, stemsDone: false, analysisPending: false,
  cached: false,        // the server answers from its cache: nothing is separated
  separating: false,    // the server said it queues or separates this request's audio
  drumsPending: false,  // drumsReady or drumsFailed still to come
  cancelling: false,
  sent: null,           // the song and settings last sent: Separate again needs a change
};

// What Separate would send: the song (file or link) and the settings.
function request() {
  const song = chosenFile ? `file:${chosenFile.name}:${chosenFile.size}:${chosenFile.lastModified}`
    : `url:${$("url-input").value.trim()}`;
  return JSON.stringify([song, chosenOptions()]);
}

export function updateStart() {
  const hasInput = chosenFile || $("url-input").value.trim();
  const again = Boolean(hasInput) && job.sent === request();
  $("start").disabled = !hasInput || job.busy || again;
  $("start").title = again ? "Already sent: choose another song or other settings" : "";
}

// The song or the settings changed: Separate is offered again unless they are what was sent.
export function inputChanged() {
  updateStart();
}

export function chooseFile(file) {
  chosenFile = file || null;
  $("file-name").textContent = file ? `${file.name} · ${(file.size / 1048576).toFixed(1)} MB` : "";
  if (file) $("url-input").value = "";
  updateStart();
}

export function chosenOptions() {
  const model = $("model-select").value || null;
  const variant = $("variant-select").value || null;
  const drums = $("drums-check").checked || null;
  return { model, variant, drums };
}

export async function startSeparation(event) {
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
    job.sent = request();
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

export function stopFollowing({ cancel = true } = {}) {
  if (!job.requestId) return;
  // Tell the server to stop sending (chunks especially); the job itself goes on there.
  const open = socket.ws && socket.ws.readyState === WebSocket.OPEN;
  if (cancel && open && job.active && socket.handlers.has(job.requestId)) {
    send({ command: "cancel", requestId: job.requestId });
  }
  socket.handlers.delete(job.requestId);
  job.active = false;
}

export function newRequestId() {
  job.counter += 1;
  return `web-${Date.now().toString(36)}-${job.counter}`;
}

export function followTrack(trackId, track = null, options = job.options, { resume = false } = {}) {
  stopFollowing({ cancel: !resume });
  job.requestId = newRequestId();
  job.trackId = trackId;
  job.track = track;
  job.options = { ...options };
  job.active = true;
  job.stemsDone = false;
  job.analysisPending = false;
  job.cached = false;
  job.separating = false;
  job.cancelling = false;
  job.drumsPending = Boolean(job.options.drums);
  stats.chunksBeforeReady = 0;
  socket.handlers.set(job.requestId, onJobMessage);
  if (track) showTrackLine($("job-track"), track);
  setJob({ stage: "queued", label: "Sent to the server", progress: 0 });
  send({
    command: "getTrackInfo", trackId, stems: true, requestId: job.requestId,
    model: job.options.model, variant: job.options.variant, drums: job.options.drums || null,
    delivery: usesMsgpack() ? "binary" : null,
  });
}

export function resumeJob() {
  // After a reconnect: ask again; the server joins the running job (or answers from cache),
  // streaming again from frame 0 what is already separated.
  if (job.active && job.trackId) followTrack(job.trackId, job.track, job.options, { resume: true });
}

// Cancel: the server stops this request (its `cancelled` reply ends it here). The separation
// itself may go on on the server for its cache or for other clients (PROTOCOL.md 3.4).
export function cancelJob() {
  if (!job.active || !job.requestId || job.cancelling) return;
  job.cancelling = true;
  $("cancel").disabled = true;
  send({ command: "cancel", requestId: job.requestId });
}

function finishRequest(requestId) {
  // Nothing more is awaited for this request: tempo/key and the drums have come.
  if (job.stemsDone && !job.analysisPending && !job.drumsPending) socket.handlers.delete(requestId);
}

export function followAnalysis(track) {
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

export function mergeTrack(update) {
  if (!job.track || job.track.trackId !== update.trackId) return null;
  const fields = ["bpm", "key", "mode", "keyName", "camelot", "analysis"];
  for (const name of fields) if (name in update) job.track[name] = update[name];
  return job.track;
}

export function onAnalysis(message) {
  stats.analyses += 1;
  const track = mergeTrack(message);
  if (track) {
    showTrackLine($("job-track"), track);
    if (mixer.trackId === track.trackId) showTrackLine($("player-track"), track);
  }
  if (mixer.trackId === message.trackId) loadGrid(message.trackId, gridLoaded);
  refreshLibrary();
}

export function onJobMessage(message) {
  switch (message.type) {
    case "trackInfo":
      job.track = { ...(job.track || {}), ...message };
      job.analysisPending = message.analysis === "pending";
      showTrackLine($("job-track"), job.track);
      if (message.stemsCached && !job.stemsDone) {
        job.cached = true;
        setJob({ stage: "cached", label: "Found in the cache", progress: null });
      }
      break;
    case "trackAnalysis":
      job.analysisPending = false;
      onAnalysis(message);
      finishRequest(message.requestId);
      break;
    case "progress": {
      // A cache hit has nothing to decode or separate: its card says so, not "Decoding 0%".
      if (job.cached && message.stage !== "complete") break;
      if (["queued", "separating", "writing"].includes(message.stage)) job.separating = true;
      // "decoding" before the first chunk is the server reading the file to know its audio
      // (and whether it has its stems already): no percentage to show for that.
      const reading = message.stage === "decoding" && !message.progress;
      const labels = { queued: "Queued", decoding: "Decoding", separating: "Separating", writing: "Writing stems", complete: "Complete" };
      setJob({
        stage: message.stage, label: reading ? "Reading the audio" : labels[message.stage] || message.stage,
        progress: reading ? null : message.progress,
        eta: message.etaSeconds, etaRange: message.etaRange, queue: message.queuePosition,
      });
      if (message.stage === "queued" || message.stage === "complete") refreshQueue();
      break;
    }
    case "stemChunk":
      if (!job.stemsDone) stats.chunksBeforeReady += 1;
      if (!job.stemsDone && !job.separating && !job.cached && $("job").dataset.stage !== "loading") {
        // Stems came with no separation announced: read from the server's disk (a cache hit
        // is confirmed by stemsReady's `cached`).
        setJob({ stage: "loading", label: "Loading the stems", progress: null });
      }
      onChunk(message);
      break;
    case "stemsReady": {
      job.active = false;
      job.stemsDone = true;
      job.cached = job.cached || Boolean(message.cached);
      // trackAnalysis or drumsReady may still come for this request; otherwise nothing more does.
      finishRequest(message.requestId);
      setJob({ stage: "complete", label: job.cached ? "Complete (from cache)" : "Complete", progress: 1, eta: 0, queue: 0 });
      const track = job.track;
      onStemsReady(message).then(() => {
        if (!job.options.drums && track) probeMidi(track);
      }).catch((err) => showError(err.code || "LOAD_FAILED", err.message, { key: "player" }));
      refreshQueue();
      refreshLibrary();
      break;
    }
    case "drumsReady":
      job.drumsPending = false;
      if (job.track) showMidi(job.track, message.midiUrl);
      finishRequest(message.requestId);
      break;
    case "drumsFailed":
      job.drumsPending = false;
      showError(message.error.code, `the stems are fine, but the drums could not be transcribed: ${message.error.message}`, { key: "drums" });
      finishRequest(message.requestId);
      break;
    case "cancelled":
      job.active = false;
      job.cancelling = false;
      job.sent = null;  // not separated here: Separate is offered again
      socket.handlers.delete(message.requestId);
      stats.chunksAtCancel = stats.chunks;
      setJob({ stage: "cancelled", label: "Cancelled", progress: null });
      setStreamStatus(message.jobCancelled
        ? "Cancelled: no more audio will come, and the server stopped the separation."
        : "Cancelled: no more audio will come. Others asked for this separation too, so the server finishes it.");
      updateStart();
      refreshQueue();
      break;
    case "stemsFailed":
    case "error":
      job.active = false;
      job.stemsDone = true;
      // A failed separation still gets its track's tempo and key, if they are coming.
      if (message.type === "error" || !job.analysisPending) socket.handlers.delete(message.requestId);
      job.cancelling = false;
      job.sent = null;
      updateStart();
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

export function showTrackLine(element, track) {
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

// "about 0:40–1:10 left" while the server is unsure (it sends etaRange), one figure after.
function timeLeft(eta, range) {
  if (Array.isArray(range) && range.length === 2) {
    const [low, high] = range.map(clock);
    if (low !== high) return `about ${low}–${high} left`;
  }
  return `about ${clock(eta)} left`;
}

export function setJob({ stage, label, progress, eta = null, etaRange = null, queue = null }) {
  const card = $("job");
  card.hidden = false;
  card.dataset.stage = stage;
  const bar = $("job-progress");
  const live = job.active && !["complete", "failed", "cancelled"].includes(stage);
  $("cancel").hidden = !live;
  $("cancel").disabled = job.cancelling;
  if (stage === "cancelled") bar.value = Number(bar.value) || 0;
  else if (progress === null) bar.removeAttribute("value");
  else bar.value = Math.max(Number(bar.value) || 0, progress);
  if (stage === "queued" && progress === 0) bar.value = 0;
  if (stage === "failed") bar.value = 0;
  $("job-stage").textContent = label;
  $("job-percent").textContent = progress === null || stage === "failed" ? "" : `${Math.round((Number(bar.value) || 0) * 100)}%`;
  $("job-eta").textContent = eta !== null && eta !== undefined && stage !== "complete" ? timeLeft(eta, etaRange) : "";
  let place = "";
  if (stage !== "complete" && stage !== "failed" && queue !== null && queue !== undefined) {
    place = queue === 0 ? "running now" : `${ordinal(queue)} in the queue`;
  }
  $("job-queue").textContent = place;
  $("job-title").textContent = stage === "complete" ? (job.cached ? "From the cache" : "Separated")
    : stage === "failed" || stage === "cancelled" ? "Not separated" : job.cached ? "From the cache" : "Now separating";
}

