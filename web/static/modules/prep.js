// Prep tools kept on the server: hot cues (eight pads per track, PUT/DELETE
// /api/tracks/{id}/cues/{index}, read by engines as hotCues) and the mix export (POST
// /api/stems/{jobId}/mix: the gains, mutes and loop of the player, a tempo with the pitch
// kept and a key shift, rendered on the server so the page and engines get the same file).
// Tempo and key are heard through that rendering (Preview), not live: see README.

import { $, clock, KEYS } from "./dom.js";
import { api, auth } from "./http.js";
import { showError, clearError } from "./errors.js";
import { mixer, seek } from "./mixer.js";

export const CUE_PADS = 8;
const CUE_COLORS = ["#ff5a5a", "#ff9f5a", "#ffd75e", "#8fd694", "#4fd1c5", "#7ec8ff", "#b48cff", "#ff7eb6"];
export const cues = { trackId: null, list: [] };

function cuesUrl(index = null) {
  const base = `/api/tracks/${encodeURIComponent(cues.trackId)}/cues`;
  return index === null ? base : `${base}/${index}`;
}

export async function loadCues(trackId) {
  cues.trackId = trackId;
  cues.list = [];
  showCues();
  if (!trackId) return;
  try {
    const { hotCues } = await api(cuesUrl());
    if (cues.trackId === trackId) cues.list = hotCues;
    clearError("cues");
  } catch (err) {
    showError(err.code, `the cue points could not be loaded: ${err.message}`, { key: "cues" });
  }
  showCues();
}

export function showCues() {
  const pads = $("cue-pads");
  pads.replaceChildren();
  for (let index = 0; index < CUE_PADS; index += 1) {
    const cue = cues.list.find((c) => c.index === index);
    const pad = document.createElement("button");
    pad.type = "button";
    pad.className = "small cue-pad";
    pad.dataset.index = String(index);
    pad.dataset.set = String(Boolean(cue));
    pad.textContent = cue ? `${index + 1} · ${clock(cue.position)}` : String(index + 1);
    pad.disabled = !cues.trackId;
    if (cue) pad.style.borderColor = cue.color || CUE_COLORS[index];
    pad.setAttribute("aria-label", cue ? `Cue ${index + 1} at ${clock(cue.position)}: jump there (Shift: remove)`
      : `Cue ${index + 1}: set a cue here`);
    pad.addEventListener("click", (event) => cuePressed(index, event.shiftKey || event.altKey));
    pads.append(pad);
  }
}

async function cuePressed(index, remove) {
  const cue = cues.list.find((c) => c.index === index);
  try {
    if (cue && remove) {
      cues.list = (await api(cuesUrl(index), { method: "DELETE" })).hotCues;
    } else if (cue) {
      seek(cue.position);
      return;
    } else {
      const position = Math.round(mixer.position() * 1000) / 1000;
      const saved = await api(cuesUrl(index), {
        method: "PUT", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ position, color: CUE_COLORS[index] }),
      });
      cues.list = [...cues.list.filter((c) => c.index !== index), saved].sort((a, b) => a.index - b.index);
    }
    clearError("cues");
  } catch (err) {
    showError(err.code, `the cue point could not be saved: ${err.message}`, { key: "cues" });
  }
  showCues();
}

// ---- tempo, key and the mix export ---------------------------------------------------

// Camelot wheel: majors are B, minors A; a fifth up is one step round the wheel.
export function camelot(pitchClass, minor) {
  const major = minor ? (pitchClass + 3) % 12 : pitchClass;  // a minor key's relative major
  return `${((major * 7) % 12 + 7) % 12 + 1}${minor ? "A" : "B"}`;
}

export function shiftedKey(track, semitones) {
  if (!track || track.key === null || track.key === undefined || track.key === "") return null;
  if (Math.round(semitones) === 0 && track.keyName) return { name: track.keyName, camelot: track.camelot };
  const pitch = (((Number(track.key) + Math.round(semitones)) % 12) + 12) % 12;
  const minor = track.mode === "0";
  return { name: `${KEYS[pitch]} ${minor ? "minor" : "major"}`, camelot: camelot(pitch, minor) };
}

export function showResultingKey() {
  const semitones = Number($("key-shift").value);
  const tempo = Number($("tempo").value);
  $("tempo-value").textContent = `${tempo}%`;
  const key = shiftedKey(mixer.track, semitones);
  const bpm = mixer.track && mixer.track.bpm ? ` · ${(mixer.track.bpm * tempo / 100).toFixed(1)} BPM` : "";
  $("resulting-key").textContent = key ? `Key ${key.name} (${key.camelot})${bpm}` : bpm.replace(" · ", "");
}

// What the player plays now, as the mix endpoint's body: volume sliders as dB, muted and
// un-soloed stems left out, the loop when it is on, tempo and key from their controls.
export function mixSettings() {
  const anySolo = Object.values(mixer.state).some((s) => s.solo);
  const gains = {};
  const mutes = [];
  for (const [name, state] of Object.entries(mixer.state)) {
    if (state.mute || (anySolo && !state.solo) || state.volume <= 0) mutes.push(name);
    else gains[name] = Math.round(2000 * Math.log10(state.volume)) / 100;
  }
  const body = { gains, mutes, tempo: Number($("tempo").value) / 100,
    semitones: Number($("key-shift").value), format: $("mix-format").value };
  if (mixer.looping()) body.loop = { start: mixer.loop.a, end: mixer.loop.b };
  if (mixer.variant) body.variant = mixer.variant;
  return body;
}

async function renderMix(settings) {
  const headers = { "Content-Type": "application/json" };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  const response = await fetch(`/api/stems/${encodeURIComponent(mixer.jobId)}/mix`, {
    method: "POST", headers, body: JSON.stringify(settings),
  });
  if (!response.ok) {
    const error = (await response.json().catch(() => ({}))).error || {};
    throw Object.assign(new Error(error.message || `the server answered ${response.status}`),
      { code: error.code || `HTTP_${response.status}` });
  }
  const disposition = response.headers.get("content-disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || `mix.${settings.format}`;
  return { blob: await response.blob(), name };
}

export async function exportMix() {
  if (!mixer.jobId || !mixer.complete) return;
  const button = $("mix-export");
  button.disabled = true;
  button.textContent = "Rendering…";
  try {
    const { blob, name } = await renderMix(mixSettings());
    const url = URL.createObjectURL(blob);
    const save = document.createElement("a");
    save.href = url;
    save.download = name;
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    clearError("mix");
  } catch (err) {
    showError(err.code, `the mix could not be exported: ${err.message}`, { key: "mix" });
  } finally {
    button.disabled = false;
    button.textContent = "Export mix";
  }
}

// Tempo and key as heard: the server's rendering of the current mix, played on its own.
export async function previewMix() {
  if (!mixer.jobId || !mixer.complete) return;
  const player = $("mix-preview");
  try {
    const { blob } = await renderMix({ ...mixSettings(), format: "wav" });
    if (player.src) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(blob);
    player.hidden = false;
    if (mixer.playing) $("play").click();
    await player.play().catch(() => {});
    clearError("mix");
  } catch (err) {
    showError(err.code, `the preview could not be rendered: ${err.message}`, { key: "mix" });
  }
}
