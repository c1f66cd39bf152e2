// The timeline the waveforms share: which part of the track is in view (zoom and scroll),
// the track's beat and bar grid (from the server's analysis), the time axis above the
// stems, and snapping a time to the grid (for the A-B loop).

import { $, clock } from "./dom.js";
import { api } from "./http.js";

export const MAX_ZOOM = 64;

// The view as fractions of the track, so that it holds while the track's length is still
// growing (stems streaming in).
export const view = { from: 0, to: 1 };

// Beat and bar times in seconds, from GET /api/tracks/{id}/analysis; empty until analysed.
export const grid = { trackId: null, beats: [], downbeats: [], bpm: null, loading: null };

export function zoom() {
  return 1 / (view.to - view.from);
}

// Keep the view inside the track, `span` at least 1/MAX_ZOOM of it.
export function setView(from, span) {
  const width = Math.min(1, Math.max(1 / MAX_ZOOM, span));
  const start = Math.min(1 - width, Math.max(0, from));
  view.from = start;
  view.to = start + width;
}

// Zoom by `factor` around `anchor` (a fraction of the track that stays where it is on screen).
export function zoomBy(factor, anchor) {
  const span = (view.to - view.from) / factor;
  const at = (anchor - view.from) / (view.to - view.from);
  setView(anchor - at * span, span);
}

export function resetView() {
  setView(0, 1);
}

// Where fraction `f` of the track lies across the view, 0..1 (outside that range: off screen).
export function toView(f) {
  return (f - view.from) / (view.to - view.from);
}

export function fromView(x) {
  return view.from + x * (view.to - view.from);
}

export function resetGrid(trackId) {
  if (grid.trackId === trackId) return;
  Object.assign(grid, { trackId, beats: [], downbeats: [], bpm: null, loading: null });
}

// Fetch the beat grid of the track once its analysis is done; `onLoaded` redraws.
export function loadGrid(trackId, onLoaded) {
  if (!trackId) return;
  resetGrid(trackId);
  if (grid.beats.length || grid.loading) return;
  grid.loading = api(`/api/tracks/${encodeURIComponent(trackId)}/analysis`).then((analysis) => {
    if (grid.trackId !== trackId) return;
    grid.loading = null;
    if (analysis.state !== "done") return;  // asked again on the track's trackAnalysis
    grid.beats = Array.isArray(analysis.beats) ? analysis.beats.map(Number) : [];
    grid.downbeats = Array.isArray(analysis.downbeats) ? analysis.downbeats.map(Number) : [];
    grid.bpm = analysis.bpm;
    onLoaded();
  }, (err) => {
    grid.loading = null;
    console.warn(`stemcast: no beat grid for ${trackId} (${err.message})`);
  });
}

// The grid time nearest to `seconds` (beats, or bars with `bars`); `seconds` itself when
// the track has no grid.
export function snap(seconds, { bars = false } = {}) {
  const times = bars && grid.downbeats.length ? grid.downbeats : grid.beats;
  if (!times.length) return seconds;
  let best = times[0];
  for (const t of times) if (Math.abs(t - seconds) < Math.abs(best - seconds)) best = t;
  return best;
}

// The grid line `count` steps after `seconds` on `times` (beats or downbeats); past the end of
// the grid it goes on at the grid's last spacing.
export function stepsAfter(times, seconds, count) {
  const index = times.findIndex((t) => Math.abs(t - seconds) < 1e-6);
  if (index === -1 || times.length < 2) return null;
  if (index + count < times.length) return times[index + count];
  const spacing = times[times.length - 1] - times[times.length - 2];
  return times[times.length - 1] + (index + count - times.length + 1) * spacing;
}

// Beat and bar lines over a waveform canvas (already sized and drawn), for a track of `duration` s.
export function drawGrid(canvas, g, duration) {
  const width = canvas.width;
  const height = canvas.height;
  let beats = 0;
  let bars = 0;
  if (!duration) return;
  const bar = new Set(grid.downbeats.map((t) => t.toFixed(3)));
  for (const t of grid.beats) {
    const x = toView(t / duration) * width;
    if (x < 0 || x > width) continue;
    const isBar = bar.has(t.toFixed(3));
    g.fillStyle = isBar ? "rgba(255, 255, 255, 0.34)" : "rgba(255, 255, 255, 0.12)";
    g.fillRect(Math.round(x), 0, isBar ? 2 : 1, height);
    beats += 1;
    if (isBar) bars += 1;
  }
  canvas.dataset.beats = String(beats);
  canvas.dataset.bars = String(bars);
}

// Seconds between axis labels: the smallest "round" step that leaves room for a label.
function labelStep(secondsInView, width, minPixels) {
  const steps = [0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
  for (const step of steps) if ((step / secondsInView) * width >= minPixels) return step;
  return steps[steps.length - 1];
}

export function drawAxis(duration) {
  const canvas = $("axis");
  if (!canvas) return;
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const labels = [];
  if (duration > 0) {
    const inView = (view.to - view.from) * duration;
    const step = labelStep(inView, canvas.clientWidth || 1, 56);
    const first = Math.ceil((view.from * duration) / step - 1e-9) * step;
    g.font = `${11 * ratio}px system-ui, sans-serif`;
    g.textBaseline = "top";
    for (let t = first; t <= view.to * duration + 1e-9; t += step) {
      const x = toView(t / duration) * width;
      g.fillStyle = "rgba(255, 255, 255, 0.45)";
      g.fillRect(Math.round(x), height - 6 * ratio, 1, 6 * ratio);
      const text = step < 1 ? `${clock(t)}.${Math.round((t % 1) * 10)}` : clock(t);
      g.fillStyle = "#a3adba";
      g.fillText(text, Math.min(x + 3 * ratio, width - g.measureText(text).width), 1);
      labels.push(text);
    }
  }
  canvas.dataset.labels = labels.join(",");
  const scroll = $("view-scroll");
  const span = view.to - view.from;
  scroll.hidden = span >= 1;
  scroll.max = String(Math.max(0, 1 - span));
  scroll.step = "any";
  scroll.value = String(view.from);
  $("zoom-level").textContent = `${zoom() < 10 ? zoom().toFixed(1) : Math.round(zoom())}×`;
}
