// Tempo with the pitch kept and key shift, live, in the browser: one Signalsmith Stretch
// node (an AudioWorklet, vendored in web/static/vendor/signalsmith-stretch/) per stem, fed
// the stem's whole audio once it is all here, feeding the stem's gain as its buffer source
// does at 100%. All nodes are scheduled at the same context time, so the stems stay in
// step; the mixer's clock runs at `mixer.rate`. At 100% and no key shift the plain buffer
// sources play (sample-exact, as before).

import SignalsmithStretch from "../vendor/signalsmith-stretch/SignalsmithStretch.mjs";
import { mixer, audioContext, startPlayback } from "./mixer.js";

export const live = { tempo: 1, semitones: 0, key: null, nodes: {}, ready: null };

export function stretching() {
  return live.tempo !== 1 || live.semitones !== 0;
}

function dispose() {
  for (const node of Object.values(live.nodes)) {
    try { node.stop(); } catch { /* not started */ }
    node.disconnect();
  }
  live.nodes = {};
  live.key = null;
  live.ready = null;
}

// Nodes for the audio now loaded (made once per audio, when it is all here).
function prepare() {
  if (live.key === mixer.key && live.ready) return live.ready;
  dispose();
  live.key = mixer.key;
  const context = audioContext();
  live.ready = Promise.all(Object.entries(mixer.stems).map(async ([name, stem]) => {
    const node = await SignalsmithStretch(context);
    await node.addBuffers(stem.channels.map((data) => data.slice(0, stem.frames)));
    node.setUpdateInterval(0.05);
    node.connect(mixer.gains[name]);
    live.nodes[name] = node;
  }));
  return live.ready;
}

// The mixer's player for stretched playback: start at `offset` (seconds of the track) at
// context time `when`, looping where the mixer loops.
export const stretchPlayer = {
  active: () => stretching() && mixer.complete && live.key === mixer.key
    && Object.keys(live.nodes).length === Object.keys(mixer.stems).length,
  start(when, offset) {
    const loop = mixer.looping();
    for (const node of Object.values(live.nodes)) {
      node.schedule({ output: when, active: true, input: offset, rate: live.tempo,
        semitones: live.semitones, loopStart: loop ? mixer.loop.a : 0, loopEnd: loop ? mixer.loop.b : 0 });
    }
  },
  stop() {
    for (const node of Object.values(live.nodes)) node.schedule({ active: false });
  },
};

// A new tempo (ratio) or key shift (semitones): heard from the play head on.
export async function setTempoAndKey(tempo, semitones) {
  live.tempo = tempo;
  live.semitones = semitones;
  if (stretching() && mixer.complete) await prepare();
  mixer.rate = stretchPlayer.active() ? live.tempo : 1;
  if (mixer.playing) startPlayback(mixer.position());
}

// A new audio in the mixer: its nodes are made again when it is complete.
export function audioChanged() {
  if (live.key !== mixer.key) dispose();
  mixer.rate = 1;
}
