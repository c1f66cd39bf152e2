// The player's view: one row per stem with solo, mute, volume, download and its waveform.

import { $, STEM_COLORS, stemLabel, order } from "./dom.js";
import { updateDownloadLinks } from "./downloads.js";
import { showTrackLine } from "./job.js";
import { mixer, applyGains, seek, drawPlayhead } from "./mixer.js";
import { drawWaveforms } from "./waveforms.js";

export function buildPlayer(track) {
  $("player").hidden = false;
  $("player").dataset.complete = "false";
  $("player-track").replaceChildren();
  if (track) showTrackLine($("player-track"), track);
  $("stems").replaceChildren();
  $("play").disabled = true;
  updateDownloadLinks();
  drawPlayhead();
}

export function addStemRow(name) {
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

export function stemRow(name) {
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

export function toggle(text, label, kind, onClick) {
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

