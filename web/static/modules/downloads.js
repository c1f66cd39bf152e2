// Download formats and the links of the player's stems and zip.

import { $, stemLabel } from "./dom.js";
import { withToken, withQuery } from "./http.js";
import { mixer } from "./mixer.js";
import { showError } from "./errors.js";

export const DOWNLOAD_KEY = "stemcast.download";
// Download formats offered in the player; each maps to the HTTP query of /api/stems.
export const DOWNLOADS = [
  { value: "wav16", label: "WAV 16-bit", name: "WAV", format: "wav", bitDepth: 16 },
  { value: "wav24", label: "WAV 24-bit", name: "WAV 24-bit", format: "wav", bitDepth: 24 },
  { value: "wav32", label: "WAV 32-bit float", name: "WAV 32-bit float", format: "wav", bitDepth: 32 },
  { value: "flac", label: "FLAC (lossless)", name: "FLAC", format: "flac", bitDepth: 16 },
  { value: "mp3", label: "MP3 320 kbps", name: "MP3", format: "mp3", bitrate: 320 },
];

export function showDownloadFormats(hello) {
  const select = $("format-select");
  const previous = localStorage.getItem(DOWNLOAD_KEY) || select.value || "wav16";
  const outputs = hello && hello.outputs;
  const offered = DOWNLOADS.filter((d) => {
    if (!outputs) return d.value === "wav16";
    if (!(outputs.formats || []).includes(d.format)) return false;
    const depths = (outputs.bitDepths || {})[d.format];
    return !d.bitDepth || !depths || depths.includes(d.bitDepth);
  });
  select.replaceChildren(...offered.map((d) => new Option(d.label, d.value)));
  select.value = offered.some((d) => d.value === previous) ? previous : "wav16";
  updateDownloadLinks();
}

export function downloadChoice() {
  return DOWNLOADS.find((d) => d.value === $("format-select").value) || DOWNLOADS[0];
}

export function downloadQuery() {
  const choice = downloadChoice();
  return { format: choice.format, bitDepth: choice.bitDepth, bitrate: choice.bitrate, variant: mixer.variant };
}

export function updateDownloadLinks() {
  const choice = downloadChoice();
  const ready = mixer.complete && mixer.jobId;
  const query = downloadQuery();
  const zip = $("zip");
  if (ready) {
    zip.href = withToken(withQuery(`/api/stems/${encodeURIComponent(mixer.jobId)}.zip`, query));
    zip.removeAttribute("aria-disabled");
  } else {
    zip.removeAttribute("href");
    zip.setAttribute("aria-disabled", "true");
  }
  zip.setAttribute("download", downloadName(mixer.track, "stems", "zip"));
  zip.textContent = `Download all (zip, ${choice.name})`;
  for (const link of document.querySelectorAll(".stem a.download")) {
    const name = link.closest(".stem").dataset.stem;
    link.textContent = choice.format.toUpperCase();
    link.setAttribute("download", downloadName(mixer.track, name, choice.format));
    link.setAttribute("aria-label", `Download ${stemLabel(name)} as ${choice.name}`);
    link.title = ready ? `Download ${stemLabel(name)} as ${choice.label}` : "Available once the stems are separated";
    if (ready) {
      link.href = withToken(withQuery(`/api/stems/${encodeURIComponent(mixer.jobId)}/${encodeURIComponent(name)}.${choice.format}`, query));
      link.removeAttribute("aria-disabled");
    } else {
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
    }
  }
}


// "Artist - Title (stem).ext" where the track has an artist, else "<title or file name> (stem).ext":
// files of different tracks never collide in a downloads folder (the server names them "bass.wav").
export function downloadName(track, stem, extension) {
  const file = track && track.filePath ? track.filePath.split(/[\\/]/).pop().replace(/\.[^.]*$/, "") : "";
  const title = (track && track.title) || file || "track";
  const base = track && track.artist ? `${track.artist} - ${title}` : title;
  // Characters no file system takes, and control characters, become a space.
  const safe = base.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, " ").replace(/\s+/g, " ").trim() || "track";
  return `${safe} (${stem}).${extension}`;
}

// A link's file saved under its `download` name: the server's own Content-Disposition name
// would win over the attribute, so the file is fetched and saved from a blob.
export async function saveStem(event) {
  const link = event.currentTarget;
  if (!link.href || link.getAttribute("aria-disabled") === "true") return;
  event.preventDefault();
  try {
    const response = await fetch(link.href);
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const error = body.error || {};
      showError(error.code || `HTTP_${response.status}`, error.message || "the download failed", { key: "download" });
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = link.getAttribute("download");
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    showError("CONNECTION", `the download failed: ${err.message}`, { key: "download" });
  }
}

// The drum transcription's MIDI file, where the server made one for this track.
export function showMidi(track, url) {
  const link = $("midi");
  if (!url) {
    link.hidden = true;
    link.removeAttribute("href");
    return;
  }
  link.href = withToken(url);
  link.setAttribute("download", downloadName(track, "drums", "mid"));
  link.hidden = false;
}

// Opened from the library: ask whether the server has the drums' MIDI (HEAD, no body).
export async function probeMidi(track) {
  showMidi(track, null);
  const url = `/api/tracks/${encodeURIComponent(track.trackId)}/drums.mid`;
  try {
    const response = await fetch(withToken(url), { method: "HEAD" });
    if (response.ok && mixer.trackId === track.trackId) showMidi(track, url);
  } catch {
    // no MIDI link then
  }
}
