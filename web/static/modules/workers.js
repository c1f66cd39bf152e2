// The workers card: who separates (the local worker processes, or the fleet's `stemcast
// worker`s with `serve --queue`), on what device and model, the job each runs, and when
// each last heartbeated. Filled from /queue's `workers` by refreshQueue (library.js).
// Not a live region: it changes with every poll, and a screen reader should read it only
// when asked.

import { $ } from "./dom.js";
import { job } from "./job.js";

const STATES = {
  ready: "Idle", busy: "Running", draining: "Draining", starting: "Starting",
  unavailable: "No model", dead: "Gone",
};

// `titles`: track id -> title (the library's rows); `jobs`: /queue's jobs, for the track
// each job separates.
export function showWorkers(workers, jobs, titles) {
  const tracks = new Map(jobs.map((item) => [item.jobId, item.trackId]));
  const list = $("workers");
  list.replaceChildren();
  for (const worker of workers) {
    const name = worker.name || `Worker ${worker.index + 1}`;
    const item = document.createElement("li");
    item.className = "worker";
    item.dataset.worker = name;
    item.dataset.state = worker.alive === false ? "dead" : worker.state;
    const head = document.createElement("p");
    head.className = "worker-head";
    const strong = document.createElement("strong");
    strong.className = "worker-name";
    strong.textContent = name;
    const state = document.createElement("span");
    state.className = "worker-state";
    state.textContent = STATES[item.dataset.state] || item.dataset.state;
    head.append(strong, " ", state);
    const facts = document.createElement("dl");
    facts.className = "worker-facts";
    fact(facts, "Device", worker.device || "–", "device");
    fact(facts, "Model", worker.model || "–", "model");
    fact(facts, "Job", jobText(worker.jobs || [], tracks, titles), "job");
    if (typeof worker.heartbeatAgeS === "number") {
      fact(facts, "Heartbeat", `${Math.round(worker.heartbeatAgeS)} s ago`, "heartbeat");
    } else if (worker.pid) {
      fact(facts, "Process", String(worker.pid), "pid");  // local: its pipe, no heartbeat
    }
    item.append(head, facts);
    list.append(item);
  }
  $("workers-empty").hidden = workers.length > 0;
}

function fact(list, label, text, key) {
  const term = document.createElement("dt");
  term.textContent = label;
  const value = document.createElement("dd");
  value.textContent = text;
  value.dataset.fact = key;
  // A div per pair (allowed in a dl): each label stays beside its value when they wrap.
  const pair = document.createElement("div");
  pair.append(term, value);
  list.append(pair);
}

// The track's title where the page knows it (the library, or the job it follows), else
// the job id's first characters, as the queue card does.
function jobText(ids, tracks, titles) {
  if (!ids.length) return "none";
  return ids.map((id) => {
    const trackId = tracks.get(id);
    const title = titles.get(trackId) || (trackId && trackId === job.trackId && job.track && job.track.title);
    return title || id.slice(0, 8);
  }).join(", ");
}

// True when a row heartbeats (a fleet worker): its age is worth fetching again.
export function heartbeats(workers) {
  return workers.some((worker) => typeof worker.heartbeatAgeS === "number");
}
