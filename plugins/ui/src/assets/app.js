// Gait UI. Plain DOM, no dependencies. Every value from the server is inserted as text
// (never as HTML), so artifact names and child output cannot inject markup.
"use strict";

const $ = (sel) => document.querySelector(sel);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-")) el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, body) {
  const init = body === undefined
    ? { headers: { Accept: "application/json" } }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch (_) { /* non-JSON error page */ }
  return { status: res.status, data };
}

function ago(iso) {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 0) return new Date(t).toLocaleString();
  if (s < 45) return "just now";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  if (s < 86400 * 30) return Math.round(s / 86400) + " d ago";
  return new Date(t).toISOString().slice(0, 10);
}

function when(iso) {
  return h("span", { class: "when", title: iso || "" }, ago(iso));
}

function short(d, n = 12) {
  return d ? d.slice(0, n) : "";
}

function verifyBadge(status) {
  const cls = status === "ok" ? "ok" : status === "failed" ? "bad" : "";
  return h("span", { class: "badge " + cls, "data-verify-badge": status }, "verify=" + status);
}

const VERDICT_CLASS = { allow: "ok", block: "bad", require_approval: "warn", dry_run: "info" };
const STATUS_CLASS = {
  completed: "ok", running: "info", paused: "warn", "decision-needed": "warn",
  blocked: "bad", emergency_stopped: "bad", cancelled: "", unreadable: "bad",
};

// What each action will run, mirroring the server's fixed table (for the preview only).
function preview(action) {
  const runId = $("#run-id").value.trim() || "run_demo";
  switch (action) {
    case "demo": return "gait demo --json";
    case "demo_durable": return "gait demo --durable --json";
    case "verify_demo": return "gait verify run_demo --json";
    case "receipt_demo": return "gait run receipt --from run_demo --json";
    case "regress_init": return "gait regress init --from " + runId + " --json";
    case "regress_run": return "gait regress run --json --junit ./gait-out/junit.xml";
    case "policy_block_test":
      return "gait policy test " + $("#policy-path").value + " " + $("#intent-path").value + " --json";
    default: return "gait " + action;
  }
}

function actionArgs(action) {
  if (action === "regress_init") return { run_id: $("#run-id").value.trim() || "run_demo" };
  if (action === "policy_block_test") {
    return { policy_path: $("#policy-path").value, intent_path: $("#intent-path").value };
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Rendering

const seen = new Map(); // path -> modified_at, to highlight what changed since the last poll
let firstPaint = true;

function freshClass(key, modified) {
  const prev = seen.get(key);
  seen.set(key, modified);
  return !firstPaint && prev !== modified ? "fresh" : "";
}

function setCount(id, n, total) {
  $(id).textContent = total !== undefined && total !== n ? n + " of " + total : n ? String(n) : "";
}

function renderRuns(runs) {
  const body = $("#runs tbody");
  body.replaceChildren(...runs.map((r) => h("tr", {
    class: freshClass(r.path, r.modified_at),
    "data-path": r.path, "data-run-id": r.run_id || "", "data-verify": r.verify,
  },
  h("td", {}, h("div", { class: "name" }, r.run_id || r.name), h("div", { class: "sub" }, r.path)),
  h("td", {}, verifyBadge(r.verify), r.signature_status && r.verify === "ok"
    ? h("div", { class: "sub" }, "sig " + r.signature_status) : null),
  h("td", {}, h("span", { class: "mono sub", title: r.manifest_digest || "" }, short(r.manifest_digest))),
  h("td", {}, when(r.modified_at)),
  h("td", { class: "right" }, verifyButton(r.path)))));
  setCount("#runs-count", runs.length);
  $("#runs-empty").hidden = runs.length > 0;
  $("#runs").hidden = runs.length === 0;
}

function renderPacks(packs) {
  const body = $("#packs tbody");
  body.replaceChildren(...packs.map((p) => h("tr", {
    class: freshClass(p.path, p.modified_at), "data-path": p.path, "data-verify": p.verify,
  },
  h("td", {}, h("div", { class: "name" }, p.name),
    p.source_ref ? h("div", { class: "sub" }, "source " + p.source_ref) : null),
  h("td", {}, p.pack_type ? h("span", { class: "badge info" }, p.pack_type) : ""),
  h("td", {}, verifyBadge(p.verify)),
  h("td", {}, when(p.modified_at)),
  h("td", { class: "right" }, verifyButton(p.path)))));
  setCount("#packs-count", packs.length);
  $("#packs-empty").hidden = packs.length > 0;
  $("#packs").hidden = packs.length === 0;
}

function checkpointClass(c) {
  if (c.type === "completed") return "done";
  if (c.type === "decision-needed") return "need";
  if (c.type === "blocked") return "blocked";
  return "";
}

function renderJobs(jobs) {
  $("#jobs").replaceChildren(...jobs.map((j) => h("div", { class: "job", "data-job-id": j.job_id },
    h("div", { class: "job-head" },
      h("span", { class: "name" }, j.job_id),
      h("span", { class: "badge " + (STATUS_CLASS[j.status] || "") }, j.status),
      j.revision !== undefined ? h("span", { class: "sub" }, "rev " + j.revision) : null,
      j.approvals ? h("span", { class: "sub" }, j.approvals + " approval" + (j.approvals > 1 ? "s" : "")) : null,
      when(j.updated_at)),
    j.error ? h("div", { class: "sub" }, j.error) : null,
    (j.checkpoints || []).length
      ? h("ul", { class: "timeline" }, j.checkpoints.map((c) => h("li", { class: checkpointClass(c) },
        h("span", { class: "tag" }, c.type || "checkpoint"), " ",
        c.summary || "", " ",
        c.required_action ? h("span", { class: "badge warn" }, "needs " + c.required_action) : null,
        h("div", { class: "sub" }, [c.checkpoint_id, c.actor, c.created_at].filter(Boolean).join(" · ")))))
      : h("div", { class: "sub" }, "no checkpoints"))));
  setCount("#jobs-count", jobs.length);
  $("#jobs-empty").hidden = jobs.length > 0;
}

let traceFilter = "";
let lastTraces = [];

function renderTraces(traces) {
  lastTraces = traces;
  const shown = traceFilter ? traces.filter((t) => t.verdict === traceFilter) : traces;
  $("#traces tbody").replaceChildren(...shown.map((t) => {
    const reasons = t.reason_codes && t.reason_codes.length ? t.reason_codes : t.violations || [];
    return h("tr", { class: freshClass(t.path, t.modified_at), "data-path": t.path, "data-verdict": t.verdict },
      h("td", {}, h("span", { class: "badge " + (VERDICT_CLASS[t.verdict] || "") }, t.verdict)),
      h("td", {}, h("span", { class: "name nowrap" }, t.tool_name || "")),
      h("td", {}, reasons.length ? h("div", { class: "tags" }, reasons.map((r) => h("span", { class: "tag" }, r)))
        : h("span", { class: "sub" }, t.error || "—")),
      h("td", {}, t.matched_rule ? h("span", { class: "name" }, t.matched_rule) : h("span", { class: "sub" }, "—")),
      h("td", {}, h("div", { class: "name" }, t.path),
        h("div", { class: "sub", title: (t.trace_id || "") + " " + (t.created_at || "") }, short(t.trace_id, 12),
          t.created_at ? " · " + t.created_at.slice(0, 10) : "")));
  }));
  setCount("#traces-count", shown.length, traces.length);
  $("#traces-empty").hidden = traces.length > 0;
  $("#traces").hidden = shown.length === 0;
}

function verifyButton(path) {
  return h("button", {
    class: "small", title: "verify " + path, "data-verify-path": path,
    onclick: (e) => run("verify", { path }, e.currentTarget),
  }, "Verify");
}

// ---------------------------------------------------------------------------------------------
// Data

async function refresh() {
  try {
    const [runs, packs, jobs, traces] = await Promise.all(
      ["/api/runs", "/api/packs", "/api/jobs", "/api/traces"].map((p) => api(p)));
    if (runs.data && runs.data.ok) renderRuns(runs.data.runs);
    if (packs.data && packs.data.ok) renderPacks(packs.data.packs);
    if (jobs.data && jobs.data.ok) renderJobs(jobs.data.jobs);
    if (traces.data && traces.data.ok) renderTraces(traces.data.traces);
    if (firstPaint) performance.mark("gait:data-rendered");
    firstPaint = false;
    setHealth(true);
  } catch (_) {
    setHealth(false);
  }
}

function setHealth(up) {
  const el = $("#health");
  el.classList.toggle("up", up);
  el.classList.toggle("down", !up);
  $("#health-text").textContent = up ? "connected" : "server unreachable";
}

async function loadState() {
  const { data } = await api("/api/state");
  if (!data || !data.ok) return;
  $("#workspace").textContent = data.workspace;
  const fill = (sel, values, def) => {
    $(sel).replaceChildren(...values.map((v) => h("option", { value: v, selected: v === def },
      v.split("/").pop())));
  };
  fill("#policy-path", data.policy_paths, data.default_policy_path);
  fill("#intent-path", data.intent_paths, data.default_intent_path);
}

let busy = false;

async function run(action, args, button) {
  if (busy) return;
  busy = true;
  document.querySelectorAll("button[data-action], button[data-verify-path]").forEach((b) => { b.disabled = true; });
  const status = $("#out-status");
  status.className = "badge info";
  status.textContent = "running " + action + "…";
  $("#out-argv").textContent = action === "verify" ? "verify " + args.path : preview(action);
  try {
    const { status: code, data } = await api("/api/exec", { command: action, args });
    showResult(code, data);
  } catch (e) {
    status.className = "badge bad";
    status.textContent = "request failed";
    $("#out-body").hidden = false;
    $("#out-body").textContent = String(e);
  } finally {
    busy = false;
    document.querySelectorAll("button[data-action], button[data-verify-path]").forEach((b) => { b.disabled = false; });
    if (button) button.focus();
    await refresh();
  }
}

function showResult(code, data) {
  const status = $("#out-status");
  const body = $("#out-body");
  if (!data) {
    status.className = "badge bad";
    status.textContent = "HTTP " + code;
    body.hidden = true;
    return;
  }
  const ok = data.ok === true;
  status.className = "badge " + (ok ? "ok" : data.exit_code === 3 || data.exit_code === 4 ? "warn" : "bad");
  status.textContent = (data.command || "") + " · exit " + (data.exit_code ?? "?") +
    (data.duration_ms ? " · " + data.duration_ms + " ms" : "");
  $("#out-argv").textContent = (data.argv || []).map((a, i) => (i === 0 ? "gait" : a)).join(" ");
  const parts = [];
  if (data.json) parts.push(JSON.stringify(data.json, null, 2));
  else if (data.stdout) parts.push(data.stdout);
  if (data.stderr) parts.push("stderr:\n" + data.stderr);
  if (data.error && !data.json) parts.push("error: " + data.error);
  body.hidden = parts.length === 0;
  body.textContent = parts.join("\n\n");
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  document.querySelectorAll("button[data-action]").forEach((b) => {
    const action = b.getAttribute("data-action");
    const show = () => { $("#preview").textContent = preview(action); };
    b.addEventListener("mouseenter", show);
    b.addEventListener("focus", show);
    b.addEventListener("click", () => run(action, actionArgs(action), b));
  });
  for (const [sel, action] of [["#run-id", "regress_init"], ["#policy-path", "policy_block_test"], ["#intent-path", "policy_block_test"]]) {
    $(sel).addEventListener("input", () => { $("#preview").textContent = preview(action); });
    $(sel).addEventListener("focus", () => { $("#preview").textContent = preview(action); });
  }
  document.querySelectorAll("#verdict-filter .chip").forEach((c) => {
    c.addEventListener("click", () => {
      traceFilter = c.getAttribute("data-verdict");
      document.querySelectorAll("#verdict-filter .chip").forEach((x) => x.classList.toggle("on", x === c));
      renderTraces(lastTraces);
    });
  });
  setInterval(() => { if (!document.hidden && !busy) refresh(); }, 5000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
}

wire();
loadState().catch(() => setHealth(false));
refresh();
