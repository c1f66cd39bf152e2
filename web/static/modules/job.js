// The job card: starting a separation, following its request over the socket, the progress shown.

import { $, keyName, clock, ordinal } from "./dom.js";
import { stats } from "./stats.js";
import { api } from "./http.js";
import { showError, clearJobErrors } from "./errors.js";
import { usesMsgpack, socket, send } from "./connection.js";
import { mixer, onChunk, onStemsReady, streamStatusText, setStreamStatus } from "./mixer.js";
import { refreshLibrary, refreshQueue } from "./library.js";

let chosenFile = null;
export const job = {
  active: false, busy: false, requestId: null, trackId: null, track: null, counter: 0,
  options: {}, stemsDone: false, analysisPending: false,
};

export function updateStart() {
  const hasInput = chosenFile || $("url-input").value.trim();
  $("start").disabled = !hasInput || job.busy;
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
  return { model, variant };
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
  stats.chunksBeforeReady = 0;
  socket.handlers.set(job.requestId, onJobMessage);
  if (track) showTrackLine($("job-track"), track);
  setJob({ stage: "queued", label: "Sent to the server", progress: 0 });
  send({
    command: "getTrackInfo", trackId, stems: true, requestId: job.requestId,
    model: job.options.model, variant: job.options.variant,
    delivery: usesMsgpack() ? "binary" : null,
  });
}

export function resumeJob() {
  // After a reconnect: ask again; the server joins the running job (or answers from cache),
  // streaming again from frame 0 what is already separated.
  if (job.active && job.trackId) followTrack(job.trackId, job.track, job.options, { resume: true });
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
  refreshLibrary();
}

export function onJobMessage(message) {
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

export function setJob({ stage, label, progress, eta = null, queue = null }) {
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

