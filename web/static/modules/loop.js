// The A-B loop: its points set at the play head and snapped to the track's beats (bars for
// "Loop 4 bars"); Web Audio loops the sources themselves (mixer.startPlayback), so the seam
// is sample-exact. Also zoom and scroll of the waveforms' view.

import { $, fineClock } from "./dom.js";
import { mixer, startPlayback } from "./mixer.js";
import { grid, snap, stepsAfter, zoomBy, resetView, setView, view, zoom } from "./timeline.js";
import { drawWaveforms } from "./waveforms.js";

function restartIfPlaying() {
  if (mixer.playing) startPlayback(mixer.position());
}

export function setLoopStart() {
  const at = snap(mixer.position());
  mixer.loop.a = at;
  if (mixer.loop.b !== null && mixer.loop.b <= at) mixer.loop.b = null;
  if (mixer.loop.b === null) mixer.loop.on = false;
  loopChanged();
}

export function setLoopEnd() {
  let at = snap(mixer.position());
  if (mixer.loop.a === null) mixer.loop.a = 0;
  if (at <= mixer.loop.a) {
    // The play head is on (or before) A: end one beat after it, where there is a grid.
    at = stepsAfter(grid.beats, mixer.loop.a, 1) ?? mixer.loop.a + 1;
  }
  mixer.loop.b = Math.min(at, mixer.duration);
  mixer.loop.on = true;
  loopChanged();
  restartIfPlaying();
}

// `bars` bars from the bar line nearest the play head (4 beats a bar where the track has no bars).
export function loopBars(bars) {
  const position = mixer.position();
  if (grid.downbeats.length >= 2) {
    const a = snap(position, { bars: true });
    mixer.loop.a = a;
    mixer.loop.b = Math.min(mixer.duration, stepsAfter(grid.downbeats, a, bars));
  } else if (grid.beats.length >= 2) {
    const a = snap(position);
    mixer.loop.a = a;
    mixer.loop.b = Math.min(mixer.duration, stepsAfter(grid.beats, a, bars * 4));
  } else {
    return;  // no grid: the button is disabled
  }
  mixer.loop.on = true;
  loopChanged();
  if (mixer.playing && (position < mixer.loop.a || position >= mixer.loop.b)) startPlayback(mixer.loop.a);
  else restartIfPlaying();
}

export function toggleLoop() {
  if (mixer.loop.a === null || mixer.loop.b === null) return;
  mixer.loop.on = !mixer.loop.on;
  loopChanged();
  restartIfPlaying();
}

export function clearLoop() {
  const was = mixer.looping();
  mixer.loop = { a: null, b: null, on: false };
  loopChanged();
  if (was) restartIfPlaying();
}

function loopChanged() {
  showLoop();
  drawWaveforms();
}

export function showLoop() {
  const { a, b, on } = mixer.loop;
  const ready = mixer.complete;
  $("loop-a").disabled = !ready;
  $("loop-b").disabled = !ready;
  $("loop-bars").disabled = !ready || grid.beats.length < 2;
  $("loop-bars").title = grid.beats.length < 2 ? "Needs the track's beat grid (once analysed)" : "";
  $("loop-toggle").disabled = !ready || a === null || b === null;
  $("loop-toggle").setAttribute("aria-pressed", String(Boolean(on && b !== null)));
  $("loop-clear").disabled = a === null;
  let text = "No loop";
  if (a !== null && b === null) text = `Loop from ${fineClock(a)}: set its end`;
  if (a !== null && b !== null) {
    const beats = grid.beats.filter((t) => t >= a - 1e-6 && t < b - 1e-6).length;
    const length = grid.beats.length ? ` (${beats} beat${beats === 1 ? "" : "s"})` : "";
    text = `Loop ${fineClock(a)}–${fineClock(b)}${length}${on ? "" : ", off"}`;
  }
  $("loop-state").textContent = text;
}

// ---- zoom and scroll ------------------------------------------------------------------------

function anchor() {
  const position = mixer.duration ? mixer.position() / mixer.duration : 0;
  return position >= view.from && position <= view.to ? position : (view.from + view.to) / 2;
}

export function zoomIn() {
  zoomBy(2, anchor());
  drawWaveforms();
}

export function zoomOut() {
  zoomBy(0.5, anchor());
  drawWaveforms();
}

export function zoomFit() {
  resetView();
  drawWaveforms();
}

export function scrollTo(from) {
  setView(from, view.to - view.from);
  drawWaveforms();
}

// The mouse wheel over a waveform: with Ctrl (or a pinch), zoom around the pointer;
// sideways (or with Shift), scroll.
export function onWheel(event, fraction) {
  if (event.ctrlKey || event.metaKey) {
    event.preventDefault();
    zoomBy(event.deltaY < 0 ? 1.25 : 0.8, fraction);
    drawWaveforms();
  } else if (zoom() > 1 && (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY))) {
    event.preventDefault();
    const delta = (event.shiftKey ? event.deltaY : event.deltaX) / 1000;
    scrollTo(view.from + delta * (view.to - view.from));
  }
}
