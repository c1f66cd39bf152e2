// Keyboard shortcuts of the player: Space plays or pauses, ←/→ move 5 s (Shift: one beat),
// 1-9 solo the stem in that row, L turns the loop on or off. Not while typing in a field or
// when a button has focus (Space presses it there).

import { mixer, seek, togglePlay, applyGains } from "./mixer.js";
import { grid } from "./timeline.js";
import { toggleLoop } from "./loop.js";

export const SEEK_STEP = 5;       // seconds, arrows
export const SEEK_PAGE = 30;      // seconds, Page Up/Down on the position slider

function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  return ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName);
}

// One beat before or after `seconds` on the grid; SEEK_STEP / 5 where the track has none.
function beatStep(seconds, direction) {
  if (grid.beats.length < 2) return seconds + direction;
  const next = direction > 0 ? grid.beats.find((t) => t > seconds + 0.01)
    : [...grid.beats].reverse().find((t) => t < seconds - 0.01);
  return next ?? seconds + direction;
}

export function nudge(direction, { fine = false } = {}) {
  const now = mixer.position();
  seek(fine ? beatStep(now, direction) : now + direction * SEEK_STEP);
}

export function soloRow(index) {
  const row = document.querySelectorAll(".stem")[index];
  if (!row) return;
  const button = row.querySelector("button.solo");
  if (button) button.click();
  else applyGains();
}

export function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  if ($player().hidden || !Object.keys(mixer.stems).length) return;
  const onButton = event.target instanceof Element && ["BUTTON", "A", "SUMMARY"].includes(event.target.tagName);
  if (event.key === " " && !onButton) {
    event.preventDefault();
    if (!document.getElementById("play").disabled) togglePlay();
  } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
    event.preventDefault();
    nudge(event.key === "ArrowRight" ? 1 : -1, { fine: event.shiftKey });
  } else if (/^[1-9]$/.test(event.key)) {
    event.preventDefault();
    soloRow(Number(event.key) - 1);
  } else if (event.key === "l" || event.key === "L") {
    toggleLoop();
  }
}

// The position slider's own keys: its 0.01 s step made the arrows useless.
export function onSeekKey(event) {
  const steps = { ArrowRight: SEEK_STEP, ArrowUp: SEEK_STEP, ArrowLeft: -SEEK_STEP, ArrowDown: -SEEK_STEP,
    PageUp: SEEK_PAGE, PageDown: -SEEK_PAGE };
  const now = mixer.position();
  let target = null;
  if (event.key in steps) target = now + steps[event.key];
  else if (event.key === "Home") target = 0;
  else if (event.key === "End") target = mixer.complete ? mixer.duration : mixer.availableSeconds();
  if (target === null) return;
  event.preventDefault();
  event.stopPropagation();
  seek(target);
  event.target.value = String(mixer.position());  // drawPlayhead leaves a focused slider alone
}

function $player() {
  return document.getElementById("player");
}
