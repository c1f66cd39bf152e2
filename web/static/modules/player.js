// The player's view: one row per stem with solo, mute, volume, download and its waveform.

import { $, STEM_COLORS, stemLabel, order } from "./dom.js";
import { updateDownloadLinks, saveStem } from "./downloads.js";
import { showTrackLine } from "./job.js";
import { mixer, applyGains, seek, drawPlayhead, setStreamStatus, streamStatusText } from "./mixer.js";
import { fromView } from "./timeline.js";
import { onWheel } from "./loop.js";
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
  title.textContent = sentence(label);
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
  volume.setAttribute("list", "unity");  // a tick at 0 dB
  const readout = document.createElement("span");
  readout.className = "db";
  readout.setAttribute("aria-hidden", "true");  // the slider's aria-valuetext says it
  const showGain = () => {
    const text = decibels(Number(volume.value));
    readout.textContent = text;
    readout.dataset.unity = String(Number(volume.value) === 1);
    volume.setAttribute("aria-valuetext", text);
  };
  showGain();
  volume.title = "Double-click: back to 0 dB";
  volume.addEventListener("input", () => {
    showGain();
    if (!mixer.state[name]) return;
    mixer.state[name].volume = Number(volume.value);
    applyGains();
  });
  volume.addEventListener("dblclick", () => {
    volume.value = "1";
    volume.dispatchEvent(new Event("input"));
  });
  const download = document.createElement("a");
  download.className = "button download";
  download.addEventListener("click", saveStem);
  controls.append(title, solo, mute, volume, readout, download);

  const wave = document.createElement("div");
  wave.className = "wave";
  const canvas = document.createElement("canvas");
  canvas.setAttribute("aria-hidden", "true");
  const head = document.createElement("div");
  head.className = "playhead";
  wave.append(canvas, head);
  wave.title = "Click to seek; Ctrl + wheel to zoom";
  const fractionAt = (event) => {
    const box = wave.getBoundingClientRect();
    return fromView((event.clientX - box.left) / box.width);
  };
  wave.addEventListener("click", (event) => {
    const seconds = fractionAt(event) * mixer.duration;
    if (!mixer.complete && seconds > mixer.availableSeconds()) {
      // Said, not silently ignored: that part has not been separated yet.
      mixer.refused = seconds;
      setStreamStatus(streamStatusText());
      return;
    }
    seek(seconds);
  });
  wave.addEventListener("wheel", (event) => onWheel(event, fractionAt(event)), { passive: false });
  row.append(controls, wave);
  return row;
}

// Gain as decibels, for the readout beside a volume slider.
export function decibels(gain) {
  if (gain <= 0) return "−∞ dB";
  const db = 20 * Math.log10(gain);
  const rounded = Math.abs(db) < 0.05 ? 0 : db;
  return `${rounded > 0 ? "+" : rounded < 0 ? "−" : ""}${Math.abs(rounded).toFixed(1)} dB`;
}

export function sentence(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
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

