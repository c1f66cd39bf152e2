// The library (tracks on the server, opened again) and the queue (every job running or waiting).

import { $, keyName, clock, ordinal, cell, VARIANTS } from "./dom.js";
import { api, withQuery } from "./http.js";
import { showError, clearError, clearJobErrors } from "./errors.js";
import { job, chosenOptions, stopFollowing, followTrack, followAnalysis, showTrackLine, setJob } from "./job.js";
import { loadStems } from "./mixer.js";
import { probeMidi } from "./downloads.js";
import { sentence } from "./player.js";
import { showWorkers, heartbeats } from "./workers.js";

// The library holds one row per audio (the server folds uploads of the same file and
// tracks of the same audio together); each row lists its separations by model and layout.
export async function refreshLibrary() {
  try {
    const [sort, order] = $("library-sort").value.split(":");
    const { tracks } = await api(withQuery("/api/tracks", { q: $("library-search").value.trim(), sort, order }));
    clearError("library");
    const body = $("library");
    body.replaceChildren();
    const names = openNames(tracks);
    for (const track of tracks) {
      const row = document.createElement("tr");
      row.dataset.trackId = track.trackId;
      row.dataset.analysis = track.analysis || "";
      row.dataset.title = track.title || track.filePath.split("/").pop();
      if (track.trackId === job.trackId) row.className = "current";
      const title = cell("", "title");
      // In a span so that it can take two lines (a cell cannot be line-clamped).
      const text = document.createElement("span");
      text.className = "title-text";
      text.textContent = row.dataset.title;
      text.title = row.dataset.title;  // the whole title where it is cut
      title.append(text);
      title.title = track.filePath;
      // Shown under the title by CSS (td.title::after), so the cell's text stays the title.
      title.dataset.separations = separationsText(track.separations || []);
      const open = document.createElement("button");
      open.type = "button";
      open.className = "small";
      open.textContent = "Open";
      open.setAttribute("aria-label", names.get(track.trackId));
      open.addEventListener("click", () => openTrack(track));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "small ghost delete";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", names.get(track.trackId).replace(/^Open/, "Delete"));
      remove.addEventListener("click", () => deleteTrack(track));
      const action = document.createElement("td");
      action.className = "actions";
      action.append(open, remove);
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
    $("library-empty").textContent = $("library-search").value.trim() ? "No track matches." : "No tracks yet.";
  } catch (err) {
    showError(err.code, `the library could not be loaded: ${err.message}`, { key: "library" });
  }
}

const LAYOUT_NAMES = { "6stems": "6 stems", "4stems": "4 stems", "2stems": "2 stems",
  "2stems-drums": "drums + no drums" };

// "Separated: tiny (4 stems, 2 stems) · dsp (running)": what Open can give at once.
function separationsText(separations) {
  if (!separations.length) return "Not separated yet";
  const parts = separations.map((s) => s.state === "completed"
    ? `${s.model} (${s.layouts.map((l) => LAYOUT_NAMES[l] || l).join(", ") || "stems"})`
    : `${s.model} (${s.state})`);
  return `Separated: ${[...new Set(parts)].join(" · ")}`;
}

export async function deleteTrack(track) {
  if (!window.confirm(`Delete “${track.title || "this track"}” and its stems from the server?`)) return;
  try {
    await api(`/api/tracks/${encodeURIComponent(track.trackId)}`, { method: "DELETE" });
    clearError("library");
    await refreshLibrary();
  } catch (err) {
    const hint = err.code === "JOB_RUNNING" ? "it is being separated; cancel that first"
      : err.code === "STEMS_IN_USE" ? "its stems are being downloaded; try again when that ends" : err.message;
    showError(err.code, `the track could not be deleted: ${hint}`, { key: "library" });
  }
}

let searchTimer = null;
export function searchChanged() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refreshLibrary, 250);
}

// A distinct name for each row's Open button: its title and length, then when it was added
// where titles repeat (the same song uploaded twice), then a count.
function openNames(tracks) {
  const base = (t) => `Open ${t.title || "track"} (${clock(t.durationSeconds)})`;
  const counts = new Map();
  for (const t of tracks) counts.set(base(t), (counts.get(base(t)) || 0) + 1);
  const names = new Map();
  const seen = new Map();
  for (const t of tracks) {
    let name = base(t);
    if (counts.get(name) > 1 && t.createdAt) {
      const added = new Date(typeof t.createdAt === "number" ? t.createdAt * 1000 : t.createdAt);
      if (!Number.isNaN(added.getTime())) name = `${name.slice(0, -1)}, added ${added.toLocaleString()})`;
    }
    const n = (seen.get(name) || 0) + 1;
    seen.set(name, n);
    names.set(t.trackId, n > 1 ? `${name} #${n}` : name);
  }
  return names;
}

// Open plays the newest separation in the layout chosen under "Stems" when it can give
// it (a 2-stem choice opens as vocals + accompaniment), else in its own stems.
export async function openTrack(track) {
  clearJobErrors();
  stopFollowing();
  job.trackId = track.trackId;
  job.track = { ...track };
  job.cached = false;
  try {
    const found = await api(`/api/tracks/${encodeURIComponent(track.trackId)}/stems`);
    setJob({ stage: "complete", label: "Complete (separated before)", progress: 1 });
    showTrackLine($("job-track"), job.track);
    if (track.analysis === "pending") followAnalysis(track);
    const chosen = chosenOptions().variant;
    const separation = (track.separations || []).find((s) => s.jobId === found.jobId);
    const layout = chosen && separation && separation.layouts.includes(chosen)
      ? VARIANTS.find((v) => v.value === chosen) : null;
    const names = layout ? layout.stems : Object.keys(found.stems);
    await loadStems(found.jobId, names, job.track, { model: found.model, variant: layout ? layout.value : null });
    probeMidi(job.track);
  } catch (err) {
    if (err.code === "NO_STEMS") followTrack(track.trackId, job.track, chosenOptions());
    else showError(err.code, err.message, { key: "job" });
  }
}

let queueTimer = null;
export async function refreshQueue() {
  clearTimeout(queueTimer);
  try {
    const { jobs, workers = [] } = await api("/queue");
    clearError("queue");
    const titles = new Map([...$("library").querySelectorAll("tr")].map((tr) => [tr.dataset.trackId, tr.dataset.title]));
    const body = $("queue");
    body.replaceChildren();
    for (const item of jobs) {
      const row = document.createElement("tr");
      const state = item.state === "running" ? sentence(`${item.stage}`) : `Waiting (${ordinal(item.queuePosition)})`;
      row.append(cell(titles.get(item.trackId) || (item.trackId || item.jobId).slice(0, 8), "title"),
        cell(state, `state-${item.state}`), cell(item.priority),
        cell(`${Math.round(item.progress * 100)}%`, "num"));
      body.append(row);
    }
    $("queue-empty").hidden = jobs.length > 0;
    showWorkers(workers, jobs, titles);
    // The socket pushes our own job; other clients' jobs are only seen here, so look
    // again now and then while something runs (and, with a fleet, for its heartbeats and
    // workers coming and going).
    const every = jobs.length ? 3000 : heartbeats(workers) ? 5000 : 0;
    if (every && !document.hidden) queueTimer = setTimeout(refreshQueue, every);
  } catch (err) {
    if (err.code !== "CONNECTION") showError(err.code, `the queue could not be loaded: ${err.message}`, { key: "queue" });
  }
}

