// Models and stem variants on offer, from the server's hello.

import { $, VARIANTS } from "./dom.js";
import { showError, clearError } from "./errors.js";
import { socket, helloCommand, send } from "./connection.js";
import { showDownloadFormats } from "./downloads.js";
import { updateStart } from "./job.js";

export function serverModels(hello) {
  const models = Array.isArray(hello.models) ? hello.models.map((m) => ({ ...m })) : [];
  if (hello.model && !models.some((m) => m.name === hello.model)) {
    // The configured default is not on offer (no weights, or still loading).
    models.unshift({ name: hello.model, kind: null, sources: hello.sources || [], default: true,
      status: hello.modelStatus });
  }
  for (const m of models) {
    if (!m.status) m.status = m.default ? hello.modelStatus || "ready" : "ready";
  }
  return models;
}

export function modelLabel(model) {
  const parts = [];
  if (model.kind === "dsp") parts.push("DSP, no weights");
  else if (model.kind === "demucs") parts.push("Demucs");
  if (model.sources && model.sources.length) parts.push(`${model.sources.length} stems`);
  if (model.device && model.device !== "cpu") parts.push(model.device);
  let text = model.name;
  if (parts.length) text += ` (${parts.join(", ")})`;
  if (model.default) text += " · default";
  if (model.status && model.status !== "ready") text += ` · ${model.status}`;
  return text;
}

export function selectedModel() {
  const hello = socket.server;
  if (!hello) return null;
  const name = $("model-select").value;
  return serverModels(hello).find((m) => m.name === name) || null;
}

export function variantsFor(model, hello) {
  const offered = hello && hello.outputs && Array.isArray(hello.outputs.variants) ? hello.outputs.variants : null;
  const sources = (model && model.sources) || [];
  return VARIANTS.filter((v) => (!offered || offered.includes(v.value))
    && v.needs.every((name) => sources.includes(name)));
}

export function nativeVariant(sources) {
  return ["guitar", "piano"].every((s) => (sources || []).includes(s)) ? "6stems" : "4stems";
}

export function showModels(hello) {
  const status = hello.modelStatus;
  const line = $("model-line");
  line.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = `model ${hello.model ?? "none"}${status && status !== "ready" ? ` (${status})` : ""}`;
  line.append(strong);
  if (hello.modelChoice) line.append(` — ${hello.modelChoice}`);
  line.append(` · server ${hello.serverVersion}`);
  line.title = hello.modelChoice || "";

  const select = $("model-select");
  const previous = select.value;
  const models = serverModels(hello);
  select.replaceChildren(...models.map((m) => new Option(modelLabel(m), m.name)));
  if (!models.length) select.append(new Option("no model", ""));
  const keep = models.find((m) => m.name === previous);
  const fallback = models.find((m) => m.default) || models[0];
  if (keep || fallback) select.value = (keep || fallback).name;
  showVariants();
  showDownloadFormats(hello);

  if (status === "unavailable") {
    const others = models.filter((m) => !m.default && m.status === "ready").map((m) => m.name);
    const hint = others.length ? ` You can still separate with ${others.join(", ")}: choose it under Model.` : "";
    showError("MODEL_UNAVAILABLE", `${hello.modelError || ""}${hint}`, { key: "model" });
  } else {
    clearError("model");
  }
  clearTimeout(socket.helloTimer);
  if (status === "loading") {
    // The server pushes no news of its model: ask again until it is loaded.
    socket.helloTimer = setTimeout(() => send(helloCommand()), 2000);
  }
  updateStart();
}

export function showVariants() {
  const select = $("variant-select");
  const previous = select.value;
  const model = selectedModel();
  const offered = variantsFor(model, socket.server);
  if (!offered.length) {
    const sources = (model && model.sources) || [];
    select.replaceChildren(new Option(sources.length ? `${sources.length} stems: ${sources.join(", ")}` : "the model's stems", ""));
    return;
  }
  select.replaceChildren(...offered.map((v) => new Option(v.label, v.value)));
  const native = nativeVariant(model.sources);
  select.value = offered.some((v) => v.value === previous) ? previous
    : offered.some((v) => v.value === native) ? native : offered[0].value;
}

