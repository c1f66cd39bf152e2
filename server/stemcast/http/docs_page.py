"""The HTML of `GET /docs`: renders /openapi.json in the browser, with nothing fetched
from elsewhere (no CDN, no fonts), so it works on a server without internet."""

from __future__ import annotations

from typing import Final

DOCS_HTML: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stemcast API</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 62rem;
         padding: 1rem 1.5rem 4rem; color: #1d1f24; background: #fafafa; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; }
  h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
  details { background: #fff; border: 1px solid #ddd; border-radius: 6px;
            margin: .4rem 0; padding: .3rem .7rem; }
  summary { cursor: pointer; }
  .method { display: inline-block; min-width: 4.2rem; font-weight: 700;
            font-family: ui-monospace, monospace; }
  .get { color: #1565c0; } .post { color: #2e7d32; } .delete { color: #c62828; }
  code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
  pre { background: #f3f3f3; padding: .6rem; overflow: auto; border-radius: 4px; }
  table { border-collapse: collapse; } td, th { padding: .15rem .6rem; text-align: left; }
  .muted { color: #666; }
</style>
</head>
<body>
<h1>stemcast HTTP API</h1>
<p class="muted" id="summary">Loading <a href="openapi.json">openapi.json</a>…</p>
<div id="api"></div>
<script>
"use strict";
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
};
const json = (value) => el("pre", {}, JSON.stringify(value, null, 2));
const params = new URLSearchParams(location.search);
const token = params.get("token");
fetch("openapi.json" + (token ? "?token=" + encodeURIComponent(token) : ""))
  .then((r) => r.json())
  .then((doc) => {
    document.getElementById("summary").textContent =
      doc.info.summary + " — version " + doc.info.version + ". " + doc.info.description;
    const root = document.getElementById("api");
    const byTag = new Map();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const tag = (op.tags || ["other"])[0];
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push([path, method, op]);
      }
    }
    for (const [tag, ops] of byTag) {
      root.append(el("h2", {}, tag));
      for (const [path, method, op] of ops) {
        const body = el("div");
        if (op.description) body.append(el("p", {}, op.description));
        if (op.parameters) {
          const rows = op.parameters.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)),
            el("td", {}, p.in), el("td", {}, p.description || "")));
          body.append(el("h4", {}, "Parameters"), el("table", {}, ...rows));
        }
        if (op.requestBody) {
          body.append(el("h4", {}, "Request body"));
          for (const [type, media] of Object.entries(op.requestBody.content)) {
            body.append(el("div", {}, el("code", {}, type)), json(media.schema || {}));
          }
        }
        body.append(el("h4", {}, "Responses"));
        for (const [status, reply] of Object.entries(op.responses)) {
          const types = Object.entries(reply.content || {});
          body.append(el("div", {}, el("b", {}, status + " "), reply.description));
          for (const [type, media] of types) {
            body.append(el("div", {}, el("code", {}, type)));
            if (media.schema) body.append(json(media.schema));
          }
        }
        root.append(el("details", {}, el("summary", {},
          el("span", {class: "method " + method}, method.toUpperCase()),
          el("code", {}, path), " — " + op.summary), body));
      }
    }
    root.append(el("h2", {}, "Schemas"));
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      root.append(el("details", {id: name}, el("summary", {}, el("code", {}, name)),
        json(schema)));
    }
  })
  .catch((err) => {
    document.getElementById("summary").textContent = "Could not load openapi.json: " + err;
  });
</script>
</body>
</html>
"""
