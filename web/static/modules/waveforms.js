// Waveforms: peaks kept per stem as audio arrives, drawn on canvases (the part not yet separated dim).

import { $ } from "./dom.js";
import { PEAK_BINS, mixer, drawPlayhead } from "./mixer.js";
import { view, toView, drawGrid, drawAxis } from "./timeline.js";

export function makePeaks(frames) {
  const binFrames = Math.max(32, Math.ceil(Math.max(frames, 1) / PEAK_BINS));
  const bins = Math.ceil(Math.max(frames, 1) / binFrames) + 1;
  return { binFrames, min: new Float32Array(bins), max: new Float32Array(bins), frames: 0, peak: 0 };
}

export function updatePeaks(stem, from, to) {
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

export function overviewPeaks(waveforms, names) {
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
export function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawWaveforms(); });
}

export function drawWaveforms() {
  const totalFrames = mixer.complete ? mixer.expectedFrames
    : Math.max(mixer.expectedFrames, ...Object.values(mixer.stems).map((s) => s.frames), 1);
  const duration = mixer.duration || totalFrames / mixer.sampleRate;
  for (const row of document.querySelectorAll(".stem")) {
    const stem = mixer.stems[row.dataset.stem];
    const canvas = row.querySelector("canvas");
    const peaks = stem && stem.peaks.frames ? stem.peaks : row.peaks;
    if (!canvas) continue;
    const total = stem && stem.peaks.frames ? totalFrames : (peaks ? peaks.frames : totalFrames);
    const g = drawWave(canvas, peaks, total, getComputedStyle(row).getPropertyValue("--stem-color").trim());
    drawLoop(canvas, g, duration);
    drawGrid(canvas, g, duration);
    const complete = mixer.complete && stem && stem.peaks.frames > 0;
    canvas.dataset.drawn = complete ? "true" : peaks && peaks.frames ? (stem && stem.peaks.frames ? "partial" : "overview") : "empty";
    canvas.dataset.filled = peaks && total ? Math.min(1, peaks.frames / total).toFixed(3) : "0";
  }
  drawAxis(duration);
  $("player").dataset.complete = String(Boolean(mixer.complete));
  drawPlayhead();
}

// The A-B loop's region, shaded.
function drawLoop(canvas, g, duration) {
  const loop = mixer.loop;
  if (!duration || loop.a === null) return;
  const x0 = toView(loop.a / duration) * canvas.width;
  const x1 = loop.b === null ? x0 + 2 : toView(loop.b / duration) * canvas.width;
  g.fillStyle = loop.on ? "rgba(255, 215, 94, 0.16)" : "rgba(255, 255, 255, 0.07)";
  g.fillRect(x0, 0, Math.max(2, x1 - x0), canvas.height);
  g.fillStyle = "rgba(255, 215, 94, 0.9)";
  g.fillRect(Math.round(x0), 0, 2, canvas.height);
  if (loop.b !== null) g.fillRect(Math.round(x1) - 2, 0, 2, canvas.height);
}

// The waveform of the part of the track in view; returns the canvas's 2D context.
function drawWave(canvas, peaks, totalFrames, color) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const mid = height / 2;
  const firstFrame = view.from * totalFrames;
  const framesPerPixel = ((view.to - view.from) * totalFrames) / width;
  const filledFrames = peaks ? Math.min(peaks.frames, totalFrames) : 0;
  const filledX = Math.max(0, Math.min(width, Math.round((filledFrames - firstFrame) / framesPerPixel)));
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
  if (!peaks || !filledX || !totalFrames) return g;
  const filledBins = Math.ceil(filledFrames / peaks.binFrames);
  const scale = (mid - 2) / Math.max(peaks.peak, 0.05);
  g.fillStyle = color || "#5fb3ff";
  for (let x = 0; x < filledX; x += 1) {
    const b0 = Math.floor((firstFrame + x * framesPerPixel) / peaks.binFrames);
    const b1 = Math.min(filledBins, Math.max(b0 + 1, Math.floor((firstFrame + (x + 1) * framesPerPixel) / peaks.binFrames)));
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
  return g;
}
