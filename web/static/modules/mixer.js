// The mixer: stems' audio (streamed chunks or fetched WAVs) played through Web Audio from one clock.

import { $, FOUR, VARIANTS, clock, fineClock, byStemOrder } from "./dom.js";
import { stats } from "./stats.js";
import { auth, withQuery, ApiError } from "./http.js";
import { socket } from "./connection.js";
import { serverModels, nativeVariant } from "./models.js";
import { updateDownloadLinks } from "./downloads.js";
import { job } from "./job.js";
import { buildPlayer, addStemRow } from "./player.js";
import { makePeaks, updatePeaks, overviewPeaks, scheduleDraw, drawWaveforms } from "./waveforms.js";
import { view, setView, toView, resetView, resetGrid, loadGrid, grid } from "./timeline.js";

//
// Each stem's audio lives in `mixer.stems[name].channels` (one Float32Array per channel),
// filled as stemChunk frames arrive or taken from a decoded WAV. While a job still streams,
// playback uses AudioBuffers of what has arrived from the play position on (`bufferStart`,
// `bufferedFrames` long), made again as more arrives, the sources handed over sample-exactly.
// Once all is here, one AudioBuffer per stem holds the whole stem, and the stem's channels
// become that buffer's own data (one copy of the audio, not two).

export const PEAK_BINS = 4096;    // waveform resolution per stem, over the whole track

export const mixer = {
  context: null,
  master: null,
  key: null,          // which audio this is: job id + variant
  jobId: null,
  trackId: null,
  track: null,
  model: null,
  variant: null,      // the variant the stems are in (stemsReady's), for the download links
  origin: null,       // "stream" (stemChunk frames) or "fetch" (WAV files over HTTP)
  complete: false,    // all audio is here
  sampleRate: 44100,
  expectedFrames: 0,  // from the track's duration, while streaming
  expected: [],       // stem names expected for the variant
  stems: {},          // name -> {channels, frames, capacity, peaks}
  buffers: {},
  bufferStart: 0,     // first frame the buffers hold
  bufferedFrames: 0,
  fullBuffers: false, // the buffers hold every stem whole
  gains: {},
  sources: {},
  state: {},          // name -> {solo, mute, volume}
  duration: 0,
  playing: false,
  waiting: false,     // playback ran into the end of what has arrived; resumes when more does
  onLoopChange: () => {},  // the loop controls follow the loop (app.js sets it)
  onTrackChange: () => {},  // cue pads and the resulting key follow the track (app.js sets it)
  startedAt: 0,       // context time at which offset 0 would have played (at `rate`)
  rate: 1,            // playback speed of the stretched player (stretch.js); 1 otherwise
  stretch: null,      // that player: {active(), start(when, offset), stop()} (app.js sets it)
  offset: 0,          // position while paused
  refused: null,      // a time clicked that was not separated yet: said until it arrives
  loop: { a: null, b: null, on: false },  // A-B loop, seconds; played only once all audio is here
  position() {
    if (!this.playing) return this.offset;
    const raw = Math.max(0, Math.min(this.duration, (this.context.currentTime - this.startedAt) * this.rate));
    return this.looping() && raw >= this.loop.b
      ? this.loop.a + ((raw - this.loop.a) % (this.loop.b - this.loop.a)) : raw;
  },
  looping() {
    return this.loop.on && this.complete && this.loop.a !== null && this.loop.b !== null
      && this.loop.b > this.loop.a;
  },
  availableFrames() {
    const names = this.expected.length ? this.expected : Object.keys(this.stems);
    if (!names.length) return 0;
    let frames = Infinity;
    for (const name of names) frames = Math.min(frames, this.stems[name] ? this.stems[name].frames : 0);
    return Number.isFinite(frames) ? frames : 0;
  },
  availableSeconds() {
    return this.availableFrames() / this.sampleRate;
  },
};
window.stemcastMixer = mixer;

export function audioContext() {
  if (!mixer.context) {
    mixer.context = new AudioContext();
    mixer.master = mixer.context.createGain();
    mixer.master.connect(mixer.context.destination);
  }
  return mixer.context;
}

export function resetMixer({ key, jobId, track, model, variant, origin, sampleRate, expectedFrames, expected }) {
  stopPlayback(0);
  for (const gain of Object.values(mixer.gains)) gain.disconnect();
  Object.assign(mixer, {
    key, jobId, track, trackId: track ? track.trackId : null, model, variant, origin,
    complete: false, sampleRate, expectedFrames, expected: expected || [], stems: {}, buffers: {},
    bufferStart: 0, bufferedFrames: 0, fullBuffers: false, gains: {}, state: {}, waiting: false, offset: 0,
    duration: expectedFrames ? expectedFrames / sampleRate : 0, loop: { a: null, b: null, on: false },
    refused: null,
  });
  if (!track || grid.trackId !== track.trackId) resetView();
  resetGrid(track ? track.trackId : null);
  if (track && track.analysis !== "pending") loadGrid(track.trackId, gridLoaded);
  mixer.onLoopChange();
  mixer.onTrackChange(track);
  buildPlayer(track);
  for (const name of mixer.expected) addStem(name, 2, expectedFrames);
}

export function gridLoaded() {
  scheduleDraw();
  mixer.onLoopChange();
}

export function addStem(name, channels, capacity) {
  if (mixer.stems[name]) return mixer.stems[name];
  const size = Math.max(1, capacity || 0);
  const stem = {
    channels: Array.from({ length: channels }, () => new Float32Array(size)),
    frames: 0,
    capacity: size,
    peaks: makePeaks(capacity || mixer.expectedFrames || 44100 * 60),
  };
  mixer.stems[name] = stem;
  const gain = audioContext().createGain();
  gain.connect(mixer.master);
  mixer.gains[name] = gain;
  mixer.state[name] = { solo: false, mute: false, volume: 1 };
  addStemRow(name);
  applyGains();
  return stem;
}

export function ensureCapacity(stem, frames, channels) {
  while (stem.channels.length < channels) stem.channels.push(new Float32Array(stem.capacity));
  if (frames <= stem.capacity) return;
  const capacity = Math.max(frames, Math.ceil(stem.capacity * 1.5));
  stem.channels = stem.channels.map((old) => {
    const grown = new Float32Array(capacity);
    grown.set(old.subarray(0, stem.frames));
    return grown;
  });
  stem.capacity = capacity;
}

export function streamKey(jobId, variant) {
  return `${jobId}|${variant || ""}`;
}

export function expectedStems(model, variant) {
  const sources = (model && model.sources) || [];
  const known = VARIANTS.find((v) => v.value === variant);
  if (known && (variant !== "4stems" || FOUR.every((s) => sources.includes(s)))) return [...known.stems];
  return [...sources];
}

export function onChunk(message) {
  stats.chunks += 1;
  stats.chunkBytes += message.data ? message.data.byteLength : 0;
  const variant = job.options.variant || null;
  const key = streamKey(message.jobId, variant);
  if (mixer.key !== key || mixer.origin !== "stream") {
    const models = socket.server ? serverModels(socket.server) : [];
    const model = models.find((m) => m.name === job.options.model) || models.find((m) => m.default) || null;
    const frames = Math.round(((job.track && job.track.durationSeconds) || 0) * message.sampleRate);
    resetMixer({
      key, jobId: message.jobId, track: job.track, model: model ? model.name : null, variant,
      origin: "stream", sampleRate: message.sampleRate, expectedFrames: frames,
      expected: expectedStems(model, variant),
    });
    setStreamStatus(streamStatusText());
  }
  if (mixer.complete) return;  // asked again (a reconnect): this audio is already whole here
  if (mixer.expected.length && !mixer.expected.includes(message.stem)) {
    // Not the stems this page foresaw: go by what the server sends.
    for (const [name, stem] of Object.entries(mixer.stems)) if (!stem.frames) dropStem(name);
    mixer.expected = [];
  }
  const stem = addStem(message.stem, message.channels, Math.max(mixer.expectedFrames, message.startFrame + message.frames));
  writeChunk(stem, message);
  updatePeaks(stem, message.startFrame, message.startFrame + message.frames);
  scheduleDraw();
  $("play").disabled = mixer.availableFrames() === 0;
  setStreamStatus(streamStatusText());
  if (mixer.waiting && mixer.availableFrames() > mixer.bufferStart + mixer.bufferedFrames) {
    mixer.waiting = false;
    startPlayback(mixer.offset);
  }
}

export function writeChunk(stem, message) {
  const { startFrame, frames, channels } = message;
  if (!stem.frames && stem.channels.length !== channels) {
    stem.channels = Array.from({ length: channels }, () => new Float32Array(stem.capacity));
  }
  ensureCapacity(stem, startFrame + frames, channels);
  // A copy: msgpack's bin is a view at any byte offset, typed arrays need alignment.
  const bytes = message.data.slice();
  let samples;
  let scale;
  if (message.encoding === "pcm_f32le") {
    samples = new Float32Array(bytes.buffer, 0, frames * channels);
    scale = 1;
  } else {
    samples = new Int16Array(bytes.buffer, 0, frames * channels);
    scale = 1 / 32768;
  }
  for (let c = 0; c < channels; c += 1) {
    const target = stem.channels[c];
    for (let i = 0, j = c; i < frames; i += 1, j += channels) target[startFrame + i] = samples[j] * scale;
  }
  if (startFrame <= stem.frames) stem.frames = Math.max(stem.frames, startFrame + frames);
}

export async function onStemsReady(message) {
  const names = Object.keys(message.stems);
  const streamed = mixer.origin === "stream" && mixer.jobId === message.jobId
    && mixer.key === streamKey(message.jobId, job.options.variant || null)
    && names.length > 0 && names.every((n) => mixer.stems[n] && mixer.stems[n].frames > 0)
    && new Set(names.map((n) => mixer.stems[n].frames)).size === 1;
  if (streamed) {
    stats.readyAfterChunks += 1;
    completeStream(message);
    return;
  }
  const models = socket.server ? serverModels(socket.server) : [];
  const model = models.find((m) => m.name === message.model);
  const variant = message.variant && model && message.variant === nativeVariant(model.sources) ? null : message.variant;
  await loadStems(message.jobId, names, job.track, { model: message.model, variant, waveforms: message.waveforms });
}

export function completeStream(message) {
  const names = byStemOrder(Object.keys(message.stems));
  for (const name of Object.keys(mixer.stems)) {
    if (!names.includes(name)) dropStem(name);
  }
  const frames = mixer.stems[names[0]].frames;
  for (const name of names) {
    const stem = mixer.stems[name];
    stem.channels = stem.channels.map((data) => data.subarray(0, frames));
    stem.capacity = frames;
  }
  mixer.expected = names;
  mixer.expectedFrames = frames;
  mixer.duration = frames / mixer.sampleRate;
  mixer.model = message.model;
  const models = socket.server ? serverModels(socket.server) : [];
  const model = models.find((m) => m.name === message.model);
  mixer.variant = message.variant && model && message.variant === nativeVariant(model.sources) ? null : message.variant;
  const resume = mixer.waiting;
  mixer.complete = true;
  mixer.waiting = false;
  mixer.fullBuffers = false;
  if (mixer.playing) startPlayback(0, { handover: true });
  else {
    makeFullBuffers();
    if (resume) startPlayback(mixer.offset);
  }
  $("play").disabled = false;
  setStreamStatus(streamStatusText());
  updateDownloadLinks();
  mixer.onLoopChange();
  drawWaveforms();
}

export function dropStem(name) {
  if (mixer.gains[name]) mixer.gains[name].disconnect();
  delete mixer.stems[name];
  delete mixer.gains[name];
  delete mixer.state[name];
  delete mixer.buffers[name];
  const row = document.querySelector(`.stem[data-stem="${CSS.escape(name)}"]`);
  if (row) row.remove();
}

export async function loadStems(jobId, names, track, { model = null, variant = null, waveforms = null } = {}) {
  const sorted = byStemOrder(names);
  const context = audioContext();
  resetMixer({
    key: streamKey(jobId, variant), jobId, track, model, variant, origin: "fetch",
    sampleRate: context.sampleRate, expectedFrames: 0, expected: [],
  });
  setStreamStatus("Loading the stems…");
  const overview = overviewPeaks(waveforms, sorted);
  for (const name of sorted) {
    const row = addStemRow(name);
    if (overview[name]) row.peaks = overview[name];
  }
  drawWaveforms();
  const decoded = await Promise.all(sorted.map(async (name) => {
    const headers = auth.token ? { Authorization: `Bearer ${auth.token}` } : {};
    const url = withQuery(`/api/stems/${encodeURIComponent(jobId)}/${encodeURIComponent(name)}.wav`, { variant });
    const response = await fetch(url, { headers });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const error = body.error || {};
      throw new ApiError(error.code || `HTTP_${response.status}`, error.message || `could not load the ${name} stem`, response.status);
    }
    stats.fetchedStems += 1;
    return [name, await context.decodeAudioData(await response.arrayBuffer())];
  }));
  if (mixer.key !== streamKey(jobId, variant) || mixer.origin !== "fetch") return;  // replaced meanwhile
  for (const [name, buffer] of decoded) {
    const stem = addStem(name, buffer.numberOfChannels, 1);
    stem.channels = Array.from({ length: buffer.numberOfChannels }, (_, i) => buffer.getChannelData(i));
    stem.frames = buffer.length;
    stem.capacity = buffer.length;
    stem.peaks = makePeaks(buffer.length);
    updatePeaks(stem, 0, buffer.length);
  }
  mixer.expected = sorted;
  mixer.sampleRate = decoded[0][1].sampleRate;
  mixer.expectedFrames = Math.max(...decoded.map(([, b]) => b.length));
  mixer.duration = Math.max(...decoded.map(([, b]) => b.duration));
  mixer.buffers = Object.fromEntries(decoded);
  mixer.bufferStart = 0;
  mixer.bufferedFrames = Math.min(...decoded.map(([, b]) => b.length));
  mixer.fullBuffers = true;
  mixer.complete = true;
  $("play").disabled = false;
  applyGains();
  setStreamStatus(streamStatusText());
  updateDownloadLinks();
  mixer.onLoopChange();
  drawWaveforms();
}

export function rebuildBuffers(from = 0) {
  // AudioBuffers of what has arrived, from frame `from` on.
  const frames = mixer.availableFrames() - from;
  if (frames <= 0) return false;
  const context = audioContext();
  const buffers = {};
  for (const name of mixer.expected.length ? mixer.expected : Object.keys(mixer.stems)) {
    const stem = mixer.stems[name];
    const buffer = context.createBuffer(stem.channels.length, frames, mixer.sampleRate);
    stem.channels.forEach((data, c) => buffer.copyToChannel(data.subarray(from, from + frames), c));
    buffers[name] = buffer;
  }
  mixer.buffers = buffers;
  mixer.bufferStart = from;
  mixer.bufferedFrames = frames;
  mixer.fullBuffers = false;
  return true;
}

export function makeFullBuffers() {
  if (mixer.fullBuffers || !rebuildBuffers(0)) return;
  for (const [name, buffer] of Object.entries(mixer.buffers)) {
    const stem = mixer.stems[name];
    stem.channels = Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c));
    stem.capacity = buffer.length;
  }
  mixer.fullBuffers = true;
}

export function applyGains() {
  const anySolo = Object.values(mixer.state).some((s) => s.solo);
  for (const [name, state] of Object.entries(mixer.state)) {
    const audible = !state.mute && (!anySolo || state.solo);
    const value = audible ? state.volume : 0;
    const gain = mixer.gains[name];
    if (!gain) continue;
    gain.gain.cancelScheduledValues(0);
    gain.gain.value = value;
    const row = document.querySelector(`.stem[data-stem="${CSS.escape(name)}"]`);
    if (row) row.classList.toggle("silent", !audible);
  }
}

export function startPlayback(offset, { handover = false } = {}) {
  const context = audioContext();
  if (context.state === "suspended") context.resume();
  const when = context.currentTime + 0.05;
  // A handover continues exactly where the old sources are at `when`.
  if (handover && mixer.playing) offset = (when - mixer.startedAt) * mixer.rate;
  offset = Math.max(0, offset);
  if (mixer.complete) {
    makeFullBuffers();
  } else if (!rebuildBuffers(Math.floor(offset * mixer.sampleRate))) {
    return;  // nothing here yet from that point on
  }
  if (!mixer.bufferedFrames) return;
  if (handover) stats.handovers += 1;
  else if (!mixer.complete) stats.playsWhileStreaming += 1;
  const start = mixer.bufferStart / mixer.sampleRate;
  const end = start + mixer.bufferedFrames / mixer.sampleRate;
  offset = Math.max(start, Math.min(offset, end));
  const old = mixer.sources;
  mixer.sources = {};
  const loop = mixer.looping() && mixer.fullBuffers;
  const stretched = mixer.stretch && mixer.stretch.active();
  if (stretched) {
    if (loop && offset >= mixer.loop.b) offset = mixer.loop.a;
    mixer.stretch.start(when, offset);
  } else if (mixer.stretch) {
    mixer.stretch.stop();  // back at 100%: the buffer sources take over
  }
  if (loop && offset >= mixer.loop.b) offset = mixer.loop.a;
  for (const [name, buffer] of Object.entries(stretched ? {} : mixer.buffers)) {
    const source = context.createBufferSource();
    source.buffer = buffer;
    if (loop) {
      // Web Audio loops sample-exactly inside the source: no timer, no gap at the seam.
      // On whole sample frames: a fractional loop point makes every pass after the first
      // an interpolation between samples, not the samples themselves.
      const rate = buffer.sampleRate;
      source.loop = true;
      source.loopStart = Math.round(mixer.loop.a * rate) / rate;
      source.loopEnd = Math.round(mixer.loop.b * rate) / rate;
    }
    source.connect(mixer.gains[name]);
    source.start(when, Math.min(offset - start, buffer.duration));
    mixer.sources[name] = source;
  }
  for (const source of Object.values(old)) {
    source.onended = () => source.disconnect();
    try { source.stop(handover ? when : 0); } catch { source.disconnect(); }
  }
  const wasPlaying = mixer.playing;
  mixer.startedAt = when - offset / mixer.rate;
  mixer.playing = true;
  mixer.waiting = false;
  setPlayButton();
  if (!wasPlaying) requestAnimationFrame(tick);
}

export function stopSources() {
  if (mixer.stretch) mixer.stretch.stop();
  for (const source of Object.values(mixer.sources)) {
    try { source.stop(); } catch { /* never started */ }
    source.disconnect();
  }
  mixer.sources = {};
}

export function stopPlayback(offset) {
  stopSources();
  mixer.playing = false;
  mixer.offset = offset;
  setPlayButton();
  drawPlayhead();
}

export function seek(seconds) {
  const limit = mixer.complete ? mixer.duration : mixer.availableSeconds();
  const target = Math.max(0, Math.min(limit, seconds));
  mixer.waiting = false;
  mixer.refused = null;
  // Seeking out of an active loop leaves it (as a DJ player's loop exit).
  if (mixer.looping() && (target < mixer.loop.a || target >= mixer.loop.b)) {
    mixer.loop.on = false;
    mixer.onLoopChange();
  }
  if (mixer.playing) startPlayback(target);
  else { mixer.offset = target; drawPlayhead(); }
}

export function togglePlay() {
  if (mixer.playing) {
    stopPlayback(mixer.position());
  } else if (mixer.waiting) {
    mixer.waiting = false;  // a second press while waiting for audio: stay paused
    setPlayButton();
  } else {
    const limit = mixer.complete ? mixer.duration : mixer.availableSeconds();
    startPlayback(mixer.offset >= limit - 0.05 && mixer.complete ? 0 : mixer.offset);
  }
}

export function setPlayButton() {
  if (mixer.jobId && !mixer.complete) setStreamStatus(streamStatusText());
  const button = $("play");
  const label = mixer.playing ? "Pause" : mixer.waiting ? "Waiting" : "Play";
  button.textContent = mixer.waiting ? "Waiting…" : label;
  button.setAttribute("aria-label", mixer.waiting ? "Pause (waiting for audio)" : label);
}

export function tick() {
  if (!mixer.playing) return;
  const position = mixer.position();
  if (mixer.complete) {
    if (position >= mixer.duration) { stopPlayback(0); return; }
  } else {
    const buffered = mixer.bufferStart + mixer.bufferedFrames;
    const end = buffered / mixer.sampleRate;
    if (mixer.availableFrames() > buffered && position > end - 2) {
      startPlayback(position, { handover: true });  // more has arrived: carry on into it
    } else if (position >= end - 0.02) {
      stopPlayback(end);                            // ran out: wait for the next chunk
      stats.waits += 1;
      mixer.waiting = true;
      setPlayButton();
      setStreamStatus(streamStatusText());
      return;
    }
  }
  drawPlayhead();
  requestAnimationFrame(tick);
}

export function drawPlayhead() {
  const position = mixer.position();
  let fraction = mixer.duration ? Math.min(1, position / mixer.duration) : 0;
  // Zoomed in and playing: the view turns the page when the play head leaves it.
  if (mixer.playing && (fraction > view.to || fraction < view.from) && view.to - view.from < 1) {
    setView(fraction - 0.05 * (view.to - view.from), view.to - view.from);
    scheduleDraw();
  }
  const x = toView(fraction);
  for (const head of document.querySelectorAll(".playhead")) {
    head.hidden = x < 0 || x > 1;
    head.style.left = `calc(${(Math.min(1, Math.max(0, x)) * 100).toFixed(3)}% - 1px)`;
  }
  const slider = $("seek");
  slider.max = String(mixer.duration || 1);
  if (document.activeElement !== slider) slider.value = String(position);
  // The slider carries the position for screen readers (read when they ask); the clock is
  // visual only, so a live region does not chatter on every frame.
  const text = `${clock(position)} of ${clock(mixer.duration)}`;
  if (slider.getAttribute("aria-valuetext") !== text) slider.setAttribute("aria-valuetext", text);
  $("clock").textContent = `${fineClock(position)} / ${fineClock(mixer.duration)}`;
}

export function streamStatusText() {
  if (mixer.complete) {
    if (mixer.origin === "stream" && job.cached) return "All stems here, from the cache.";
    return mixer.origin === "stream" ? "All stems here: streamed while they separated."
      : "All stems loaded from the server.";
  }
  const have = mixer.availableSeconds();
  const total = mixer.duration;
  if (!have) return job.cached ? "Stems are coming from the cache…"
    : job.separating ? "Stems are arriving while they separate…" : "Stems are arriving…";
  if (mixer.refused !== null && mixer.refused > have) {
    return `${job.cached ? "Not loaded yet" : "Not separated yet"}: ${clock(mixer.refused)} is past the ${clock(have)} here so far. It plays once it arrives.`;
  }
  if (job.cached) return `From the cache so far: ${clock(have)} of ${clock(total)}.`;
  if (!job.separating) return `Here so far: ${clock(have)} of ${clock(total)}.`;
  const now = mixer.waiting ? "Playback waits for the next part."
    : mixer.playing ? "Playing what has arrived; the rest follows." : "Press Play to hear it now.";
  return `Separated so far: ${clock(have)} of ${clock(total)}. ${now}`;
}

export function setStreamStatus(text) {
  const line = $("stream-status");
  if (line.textContent !== text) line.textContent = text;
}

