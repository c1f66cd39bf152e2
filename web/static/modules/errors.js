// Errors shown in words: one box per key, the server's code and message under a friendly line.

import { $ } from "./dom.js";

export const FRIENDLY = {
  NOT_AUDIO: "This file is not audio stemcast can read.",
  EMPTY_AUDIO: "This file holds no audio.",
  UNSUPPORTED_AUDIO: "stemcast does not separate this kind of audio.",
  TRACK_TOO_LONG: "This song is too long for this server.",
  MODEL_UNAVAILABLE: "The server has no model weights, so it cannot separate songs yet.",
  MODEL_NOT_FOUND: "The server does not offer that model.",
  UPLOAD_TOO_LARGE: "The file is too large for this server.",
  FETCH_FAILED: "The server could not download that link.",
  FETCH_TIMEOUT: "Downloading that link took too long.",
  UNAUTHORIZED: "This server needs an access token.",
  SEPARATION_FAILED: "Separation failed.",
  WORKER_CRASHED: "The separation process crashed.",
  STEMS_REMOVED: "The stems of this track were removed from the server's disk.",
  STEM_NOT_FOUND: "The server has no such stem.",
  INVALID_FIELD: "The server refused these settings.",
  CONNECTION: "The connection to the server was lost.",
  LOAD_FAILED: "The stems could not be loaded for playback.",
};

export function showError(code, message, { key = code } = {}) {
  const box = $("errors");
  let item = box.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (!item) {
    item = document.createElement("div");
    item.className = "error";
    item.dataset.key = key;
    const text = document.createElement("p");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "ghost small";
    close.textContent = "Dismiss";
    close.addEventListener("click", () => item.remove());
    item.append(text, close);
    box.append(item);
  }
  item.dataset.code = code;
  const text = item.querySelector("p");
  text.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = FRIENDLY[code] || "Something went wrong.";
  const detail = document.createElement("span");
  detail.textContent = message ? `${message} (${code})` : code;
  text.append(strong, detail);
  if (code === "UNAUTHORIZED") $("token-box").open = true;
}

export function clearError(key) {
  const item = $("errors").querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (item) item.remove();
}

export function clearJobErrors() {
  for (const item of $("errors").querySelectorAll(".error")) {
    if (item.dataset.key !== "connection" && item.dataset.key !== "model") item.remove();
  }
}

