// stemcast's browser page: upload or fetch a song, follow its job over the WebSocket,
// hear its stems while they separate (streamed as stemChunk frames), then play, mix and
// download them. Plain ES modules, no build step: msgpack comes from web/static/vendor/
// (refreshed by web/refresh-vendor.sh).

import { $ } from "./modules/dom.js";
import { stats } from "./modules/stats.js";
import { TOKEN_KEY, auth } from "./modules/http.js";
import { clearError } from "./modules/errors.js";
import { usesMsgpack, msgpackLoaded, socket, connect, hooks } from "./modules/connection.js";
import { showModels, showVariants } from "./modules/models.js";
import { DOWNLOAD_KEY, showDownloadFormats, updateDownloadLinks, saveStem } from "./modules/downloads.js";
import { job, chooseFile, startSeparation, resumeJob, inputChanged, cancelJob } from "./modules/job.js";
import { mixer, seek, togglePlay } from "./modules/mixer.js";
import { onKey, onSeekKey } from "./modules/shortcuts.js";
import { setLoopStart, setLoopEnd, loopBars, toggleLoop, clearLoop, showLoop, zoomIn, zoomOut, zoomFit, scrollTo } from "./modules/loop.js";
import { drawWaveforms } from "./modules/waveforms.js";
import { view, grid } from "./modules/timeline.js";
import { live, stretching, stretchPlayer, setTempoAndKey, audioChanged } from "./modules/stretch.js";
import { loadCues, showCues, showResultingKey, exportMix, previewMix } from "./modules/prep.js";
import { refreshLibrary, refreshQueue, searchChanged } from "./modules/library.js";

function wire() {
  const drop = $("drop");
  const input = $("file-input");
  input.addEventListener("change", () => chooseFile(input.files[0]));
  // The drop zone is the control for the hidden file input (index.html says why).
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation();
    const file = event.dataTransfer.files[0];
    if (file) chooseFile(file);
  });
  // A file dropped anywhere on the page counts; the browser must not open it instead.
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files[0]) chooseFile(event.dataTransfer.files[0]);
  });
  $("url-input").addEventListener("input", () => {
    if ($("url-input").value.trim()) { chooseFile(null); input.value = ""; }
    inputChanged();
  });
  $("model-select").addEventListener("change", () => { showVariants(); inputChanged(); });
  $("variant-select").addEventListener("change", inputChanged);
  $("drums-check").addEventListener("change", inputChanged);
  $("cancel").addEventListener("click", cancelJob);
  $("format-select").addEventListener("change", () => {
    localStorage.setItem(DOWNLOAD_KEY, $("format-select").value);
    updateDownloadLinks();
  });
  $("start-form").addEventListener("submit", startSeparation);
  $("play").addEventListener("click", togglePlay);
  $("seek").addEventListener("input", () => seek(Number($("seek").value)));
  $("seek").addEventListener("keydown", onSeekKey);
  document.addEventListener("keydown", onKey);
  $("zoom-in").addEventListener("click", zoomIn);
  $("zoom-out").addEventListener("click", zoomOut);
  $("zoom-fit").addEventListener("click", zoomFit);
  $("view-scroll").addEventListener("input", () => scrollTo(Number($("view-scroll").value)));
  $("loop-a").addEventListener("click", setLoopStart);
  $("loop-b").addEventListener("click", setLoopEnd);
  $("loop-bars").addEventListener("click", () => loopBars(4));
  $("loop-toggle").addEventListener("click", toggleLoop);
  $("loop-clear").addEventListener("click", clearLoop);
  $("midi").addEventListener("click", saveStem);
  // The grid arrives with the analysis: the resulting key and BPM follow it too.
  mixer.stretch = stretchPlayer;
  mixer.onLoopChange = () => {
    showLoop();
    showResultingKey();
    // All the audio is here now: tempo and key, if set, take over from the plain sources.
    if (stretching() && mixer.complete && live.key !== mixer.key) setTempoAndKey(live.tempo, live.semitones);
  };
  mixer.onTrackChange = (track) => {
    audioChanged();
    if (!track || track.trackId !== mixer.cuesTrackId) loadCues(track ? track.trackId : null);
    mixer.cuesTrackId = track ? track.trackId : null;
    showResultingKey();
  };
  for (let shift = -12; shift <= 12; shift += 1) {
    $("key-shift").append(new Option(shift > 0 ? `+${shift}` : String(shift), String(shift), shift === 0, shift === 0));
  }
  const tempoAndKey = () => {
    showResultingKey();
    setTempoAndKey(Number($("tempo").value) / 100, Number($("key-shift").value));
  };
  $("tempo").addEventListener("input", tempoAndKey);
  $("key-shift").addEventListener("change", tempoAndKey);
  $("mix-export").addEventListener("click", exportMix);
  $("mix-preview-button").addEventListener("click", previewMix);
  showCues();
  showResultingKey();
  $("library-refresh").addEventListener("click", refreshLibrary);
  $("library-search").addEventListener("input", searchChanged);
  $("library-sort").addEventListener("change", refreshLibrary);
  $("queue-refresh").addEventListener("click", refreshQueue);
  $("token-input").value = auth.token;
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    auth.token = $("token-input").value.trim();
    if (auth.token) localStorage.setItem(TOKEN_KEY, auth.token);
    else localStorage.removeItem(TOKEN_KEY);
    clearError("connection");
    updateDownloadLinks();
    if (socket.ws) socket.ws.close();
    else connect();
  });
  $("token-clear").addEventListener("click", () => {
    auth.token = "";
    $("token-input").value = "";
    localStorage.removeItem(TOKEN_KEY);
    updateDownloadLinks();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshQueue(); });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawWaveforms, 150);
  });
}

wire();
hooks.opened = () => {
  resumeJob();
  refreshLibrary();
  refreshQueue();
};
hooks.hello = showModels;
window.stemcastTimeline = { view, grid };
window.stemcastStretch = live;  // for people debugging and the browser tests
hooks.following = () => job.active;
showDownloadFormats(null);
msgpackLoaded.then(() => {
  stats.transport = usesMsgpack() ? "msgpack" : "json";
  connect();
});
