// sanafarm dashboard: in-place refresh of server-rendered fragments and
// actions through the dashboard's CSRF-checked POST routes. No framework,
// nothing fetched from elsewhere (docs/dashboard.md).
"use strict";

const REFRESH_MS = 2000;
const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function flash(msg, ok) {
  const el = document.getElementById("flash");
  el.textContent = msg;
  el.className = ok ? "ok" : "bad";
  el.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { el.hidden = true; }, 6000);
}

async function refresh(box) {
  const res = await fetch(box.dataset.refresh, { credentials: "same-origin", headers: { "Accept": "text/html" } });
  if (res.redirected && res.url.includes("/ui/login")) {
    location.href = res.url;
    return;
  }
  if (!res.ok && res.status !== 404) throw new Error("refresh: HTTP " + res.status);
  box.innerHTML = await res.text();
  document.getElementById("updated").textContent = new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

// GPU history: the nodes page's telemetry values, kept across refreshes
// (the server keeps none), drawn as sparklines.
const SPARK_POINTS = 60;
const gpuHistory = new Map();
const SVG = "http://www.w3.org/2000/svg";

function sparkline(svg, series, cls) {
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", cls);
  line.setAttribute("points", series.map((v, i) =>
    (i * 60 / (SPARK_POINTS - 1)).toFixed(1) + "," + (20 - Math.min(Math.max(v, 0), 100) / 5).toFixed(1)).join(" "));
  svg.appendChild(line);
}

function drawGPUs() {
  for (const el of document.querySelectorAll(".gpu[data-gpu]")) {
    const h = gpuHistory.get(el.dataset.gpu) || { util: [], mem: [] };
    h.util = h.util.concat([Number(el.dataset.util) || 0]).slice(-SPARK_POINTS);
    h.mem = h.mem.concat([Number(el.dataset.mem) || 0]).slice(-SPARK_POINTS);
    gpuHistory.set(el.dataset.gpu, h);
    const svg = el.querySelector("svg.spark");
    if (!svg) continue;
    svg.replaceChildren();
    sparkline(svg, h.mem, "mem");
    sparkline(svg, h.util, "util");
  }
}

async function refreshAll() {
  if (document.hidden) return;
  for (const box of document.querySelectorAll("[data-refresh]")) {
    try { await refresh(box); } catch (e) { flash(e.message, false); }
  }
  drawGPUs();
}

async function act(button) {
  let url = button.dataset.action;
  const verb = button.dataset.verb;
  if (verb === "priority") {
    const p = prompt("New priority (higher runs first):", "0");
    if (p === null) return;
    url += "?priority=" + encodeURIComponent(p.trim());
  } else if ((verb === "cancel" || verb === "delete" || verb === "disable") && !confirm(verb + "?")) {
    return;
  }
  button.disabled = true;
  try {
    const res = await fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } });
    let body = {};
    try { body = await res.json(); } catch (e) { body = { error: "HTTP " + res.status }; }
    if (!res.ok || !body.ok) throw new Error(verb + ": " + (body.error || "HTTP " + res.status));
    flash(verb + ": done", true);
    await refreshAll();
  } catch (e) {
    flash(e.message, false);
  } finally {
    button.disabled = false;
  }
}

async function submitJob(form) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const res = await fetch(form.dataset.submit, { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() }, body: new FormData(form) });
    let body = {};
    try { body = await res.json(); } catch (e) { body = { error: "HTTP " + res.status }; }
    if (!res.ok || !body.ok) throw new Error("submit: " + (body.error || "HTTP " + res.status));
    location.href = "/ui/jobs/" + encodeURIComponent(body.id);
  } catch (e) {
    flash(e.message, false);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("submit", (ev) => {
  const f = ev.target.closest("form[data-submit]");
  if (f) { ev.preventDefault(); submitJob(f); }
});
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (b) { ev.preventDefault(); act(b); }
});
// Live updates: with the event stream, a page refreshes (at most once a
// second) when something changed, and polls only every LIVE_POLL_MS as a
// safety net; without it, or while it is down, every REFRESH_MS.
const LIVE_POLL_MS = 30000;
let live = false, pending = null, lastPoll = 0;

function soon() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refreshAll(); }, 1000);
}

function connect() {
  const meta = document.querySelector('meta[name="events"]');
  if (!meta || !window.EventSource) return;
  const es = new EventSource(meta.content);
  es.onopen = () => { live = true; document.body.dataset.live = "events"; };
  es.onmessage = soon;
  es.onerror = () => { live = false; document.body.dataset.live = "poll"; };
}

document.addEventListener("visibilitychange", refreshAll);
setInterval(() => {
  const now = Date.now();
  if (!live || now - lastPoll >= LIVE_POLL_MS) { lastPoll = now; refreshAll(); }
}, REFRESH_MS);
connect();
drawGPUs();
