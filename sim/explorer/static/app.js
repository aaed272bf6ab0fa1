// brainsim explorer: the page's state, its controls, and the charts drawn from each run.
// The state (starting scenario and the levers moved) lives in the URL; every change
// goes to the server as a whole state, which checks it as a scenario file.
"use strict";

const app = {
  meta: null,
  lang: "en",
  state: { base: "baseline", policies: {}, budgets: {} },
  undo: [],
  redo: [],
  result: null,
  seq: 0,
  client: Math.random().toString(36).slice(2),
  inflight: null,
  draws: 0,
};

const $ = (sel) => document.querySelector(sel);
const t = (key, fields = {}) => {
  const entry = app.meta.labels[key];
  let text = entry ? entry[app.lang] : key;
  for (const [k, v] of Object.entries(fields)) text = text.replace(`{${k}}`, v);
  return text;
};
const nameOf = (key) => (app.meta.names[key] ? app.meta.names[key][app.lang] : key);
const clone = (x) => JSON.parse(JSON.stringify(x));

function fmt(value, unit) {
  if (value === null || value === undefined || !isFinite(value)) return "—";
  if (unit === "dmnl" && Math.abs(value) <= 1.5) return (100 * value).toFixed(1) + "%";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 1 ? 2 : 3;
  return value.toLocaleString(app.lang === "ja" ? "ja-JP" : "en-US", {
    maximumFractionDigits: digits,
  });
}

// --- the URL ---------------------------------------------------------------------------

function encodeState(state) {
  const bytes = new TextEncoder().encode(JSON.stringify(state));
  let bin = "";
  bytes.forEach((b) => (bin += String.fromCharCode(b)));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeState(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function writeUrl() {
  const params = new URLSearchParams({ s: encodeState(app.state), lang: app.lang });
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function readUrl() {
  const params = new URLSearchParams(location.search);
  if (params.get("lang") === "ja" || params.get("lang") === "en") app.lang = params.get("lang");
  if (params.get("s")) {
    try {
      const state = decodeState(params.get("s"));
      app.state = { base: state.base || "baseline", policies: state.policies || {},
        budgets: state.budgets || {} };
    } catch (err) {
      showError("the link's scenario could not be read; starting from the baseline");
    }
  }
}

// --- controls --------------------------------------------------------------------------

function controlKey(c) {
  return `${c.kind}:${c.key}`;
}

function slot(c) {
  return c.kind === "lever" ? app.state.policies : app.state.budgets;
}

// grouped by programme: each lever, then the budgets that act on it; then the other budgets
function buildControls() {
  const aside = $("#controls");
  aside.innerHTML = "";
  const heading = (key) => {
    const h = document.createElement("h3");
    h.dataset.i18n = key;
    aside.appendChild(h);
  };
  const levers = app.meta.controls.filter((x) => x.kind === "lever");
  const budgets = app.meta.controls.filter((x) => x.kind === "budget");
  heading("ui_levers");
  for (const c of levers) {
    const group = document.createElement("div");
    group.className = "programme";
    group.appendChild(control(c));
    for (const b of budgets.filter((x) => x.acts_on === c.key)) group.appendChild(control(b));
    aside.appendChild(group);
  }
  const rest = budgets.filter((x) => !levers.some((c) => c.key === x.acts_on));
  if (rest.length) heading("ui_budgets");
  for (const b of rest) aside.appendChild(control(b));
}

function control(c) {
  const div = document.createElement("div");
  div.className = "control";
  div.dataset.key = controlKey(c);
  const step = (c.max - c.min) / 200;
  const marks = ["lowest", "low", "status quo", "high", "highest"];
  div.innerHTML = `
    <div class="name"></div>
    <div class="row">
      <input type="range" min="${c.min}" max="${c.max}" step="${step}" list="marks-${c.kind}-${c.key.replace(/ /g, "-")}">
      <datalist id="marks-${c.kind}-${c.key.replace(/ /g, "-")}">${marks
        .map((m) => `<option value="${c.marks[m]}"></option>`).join("")}</datalist>
      <input type="number" min="${c.min}" max="${c.max}" step="any">
      <span class="unit">${c.unit}</span>
    </div>
    <div class="marks">${marks
      .map((m) => `<span data-mark="${m}" data-i18n="ui_${m.replace(" ", "_")}"
        title="${c.marks[m]}"></span>`)
      .join("")}</div>
    <div class="timing"><span data-i18n="ui_from"></span>
      <input type="number" class="start" min="${c.start.min}" max="${c.start.max}" step="1">
      <span data-i18n="ui_ramp"></span>
      <input type="number" class="ramp" min="${c.ramp.min}" max="${c.ramp.max}" step="1">
    </div>`;
  const [range, number] = div.querySelectorAll(".row input");
  range.addEventListener("input", () => (number.value = range.value));
  range.addEventListener("change", () => setLevel(c, Number(range.value)));
  number.addEventListener("change", () => setLevel(c, Number(number.value)));
  div.querySelector(".start").addEventListener("change", (e) => setTiming(c, "from", e.target.value));
  div.querySelector(".ramp").addEventListener("change", (e) => setTiming(c, "ramp", e.target.value));
  div.querySelectorAll("[data-mark]").forEach((el) =>
    el.addEventListener("click", () => setLevel(c, c.marks[el.dataset.mark])));
  return div;
}

function showControls() {
  for (const c of app.meta.controls) {
    const div = document.querySelector(`.control[data-key="${CSS.escape(controlKey(c))}"]`);
    const entry = slot(c)[c.key];
    const value = entry ? entry.to : c.baseline;
    const [range, number] = div.querySelectorAll(".row input");
    range.value = value;
    number.value = +Number(value).toPrecision(6);
    div.querySelector(".start").value = entry ? entry.from : c.start.default;
    div.querySelector(".ramp").value = entry ? entry.ramp : c.ramp.default;
    const name = div.querySelector(".name");
    name.textContent = (c.programme && c.programme[app.lang]) || c.key;
    name.title = c.key + (c.acts_on ? ` (${t("ui_acts_on")}: ${c.acts_on})` : "");
    name.classList.toggle("moved", Boolean(entry));
  }
}

function change(mutate) {
  app.undo.push(clone(app.state));
  app.redo = [];
  mutate(app.state);
  refresh();
}

function setLevel(c, value) {
  if (!isFinite(value)) return showError(`${c.key}: give a number from ${c.min} to ${c.max}`);
  change((state) => {
    const entries = c.kind === "lever" ? state.policies : state.budgets;
    const old = entries[c.key];
    if (Math.abs(value - c.baseline) < 1e-12 && (!old || old.from === c.start.default)) {
      delete entries[c.key];
    } else {
      entries[c.key] = { to: value, from: old ? old.from : c.start.default,
        ramp: old ? old.ramp : c.ramp.default };
    }
    // a programme is set by its budget or by its lever, not both
    if (c.kind === "budget" && c.acts_on) delete state.policies[c.acts_on];
    if (c.kind === "lever") {
      for (const b of app.meta.controls) {
        if (b.kind === "budget" && b.acts_on === c.key) delete state.budgets[b.key];
      }
    }
  });
}

function setTiming(c, field, text) {
  const value = Number(text);
  change((state) => {
    const entries = c.kind === "lever" ? state.policies : state.budgets;
    const entry = entries[c.key] || { to: c.baseline, from: c.start.default, ramp: c.ramp.default };
    entry[field] = value;
    entries[c.key] = entry;
  });
}

// --- runs ------------------------------------------------------------------------------

function refresh() {
  writeUrl();
  showControls();
  run();
}

async function post(path, body, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  const data = await response.json();
  return { status: response.status, data };
}

async function run() {
  if (app.inflight) app.inflight.abort(); // a newer state replaces the run in progress
  const controller = new AbortController();
  app.inflight = controller;
  const seq = ++app.seq;
  $("#status").textContent = t("ui_running");
  try {
    const { status, data } = await post(
      "/api/run", { state: app.state, client: app.client, seq }, controller.signal);
    if (seq !== app.seq || status === 409) return;
    if (status === 503) {
      // the server's queue is full: try again shortly, if this is still the latest state
      setTimeout(() => seq === app.seq && run(), 400 + Math.random() * 800);
      return;
    }
    if (status !== 200) {
      showError(data.error || `HTTP ${status}`);
      $("#status").textContent = "";
      return;
    }
    hideError();
    app.result = data;
    $("#status").textContent = "";
    draw();
    if ($("#detail-chart").dataset.variable) showDetail($("#detail-chart").dataset.variable);
  } catch (err) {
    if (err.name !== "AbortError") showError(String(err.message || err));
  } finally {
    if (app.inflight === controller) app.inflight = null;
  }
}

function showError(text) {
  const box = $("#error");
  box.textContent = `${t("ui_error")}: ${text}`;
  box.hidden = false;
}

function hideError() {
  $("#error").hidden = true;
}

// --- drawing ---------------------------------------------------------------------------

// a band as one closed polygon (p95 forward, p05 back) and its median: two traces, not three
function bandTraces(band, name, color, fill, dash) {
  return [
    { x: band.years.concat([...band.years].reverse()),
      y: band.p95.concat([...band.p05].reverse()), mode: "lines", line: { width: 0 },
      fill: "toself", fillcolor: fill, hoverinfo: "skip", name: `${name} ${t("ui_band")}` },
    { x: band.years, y: band.p50, mode: "lines", line: { color, width: 2, dash }, name },
  ];
}

function chartFor(variable, index) {
  const targets = (app.result ? app.result.targets : []).filter((r) => r.variable === variable);
  const base = app.meta.baseline[variable];
  const current = app.result ? app.result.bands[variable] : null;
  const traces = bandTraces(base, t("ui_baseline"), "#777", "rgba(120,120,120,0.18)", "dash");
  if (current) traces.push(...bandTraces(current, t("ui_current"), "#c05000", "rgba(230,120,30,0.22)", "solid"));
  const hist = app.meta.history[variable] || [];
  if (hist.length) {
    traces.push({ x: hist.map((p) => p[0]), y: hist.map((p) => p[1]), mode: "markers",
      marker: { color: "#1f4e9c", size: 5 }, name: t("ui_history") });
  }
  const shapes = [];
  for (const r of targets) {
    traces.push({ x: [r.year], y: [r.goal], mode: "markers",
      marker: { symbol: "star", size: 12, color: "#b00" }, name: `${t("ui_target")} ${r.year}` });
    shapes.push({ type: "line", x0: app.meta.projection_start, x1: r.year, y0: r.goal,
      y1: r.goal, line: { color: "#b00", width: 1, dash: "dot" } });
  }
  const div = document.getElementById(`chart-${index}`);
  const layout = {
    title: { text: nameOf(variable), font: { size: 13 } },
    margin: { l: 60, r: 10, t: 36, b: 30 },
    showlegend: false, // the page's one legend (#legend) serves every chart
    shapes,
    yaxis: { rangemode: "tozero", tickformat: variable.includes("rate") ? ".0%" : "," },
  };
  const config = { displaylogo: false, responsive: true,
    toImageButtonOptions: { filename: `brainsim-${variable.replace(/ /g, "-")}`, scale: 2 } };
  return Plotly.react(div, traces, layout, config);
}

function draw() {
  const charts = $("#charts");
  if (!charts.children.length) {
    app.meta.charts.forEach((v, i) => {
      const div = document.createElement("div");
      div.className = "chart";
      div.id = `chart-${i}`;
      div.dataset.variable = v;
      charts.appendChild(div);
    });
  }
  Promise.all(app.meta.charts.map((v, i) => chartFor(v, i))).then(() => {
    app.draws += 1;
    document.body.dataset.draws = String(app.draws);
  });
  drawTable();
  drawCost();
  drawCaption();
  translate();
}

function drawTable() {
  const head = $("#targets thead");
  head.innerHTML = `<tr>${["ui_col_target", "ui_col_year", "ui_col_base_median", "ui_col_median",
    "ui_col_base_prob", "ui_col_prob"].map((k) => `<th data-i18n="${k}"></th>`).join("")}</tr>`;
  const body = $("#targets tbody");
  body.innerHTML = "";
  if (!app.result) return;
  for (const r of app.result.targets) {
    const unit = r.variable.includes("rate") ? "dmnl" : "";
    const delta = r.probability - r.baseline_probability;
    const tr = document.createElement("tr");
    tr.dataset.variable = r.variable;
    tr.innerHTML = `<td>${nameOf(r.variable)} ≥ ${fmt(r.goal, unit)}</td><td>${r.year}</td>
      <td>${fmt(r.baseline_p50, unit)}</td>
      <td>${fmt(r.p50, unit)} (${fmt(r.p05, unit)}–${fmt(r.p95, unit)})</td>
      <td>${(100 * r.baseline_probability).toFixed(1)}%</td>
      <td class="prob ${delta > 0.0005 ? "up" : delta < -0.0005 ? "down" : ""}">${(100 * r.probability).toFixed(1)}%</td>`;
    body.appendChild(tr);
  }
}

function drawCost() {
  const c = app.result && app.result.cost;
  const moved = Object.keys(app.state.budgets).length + Object.keys(app.state.policies).length;
  if (!c || !moved || (Math.abs(c.p50) < 0.005 && Math.abs(c.p95) < 0.005)) {
    $("#cost").textContent = t("ui_no_cost");
    return;
  }
  $("#cost").textContent = t("ui_cost", { start: c.from, end: c.to, p50: fmt(c.p50),
    p05: fmt(c.p05), p95: fmt(c.p95) });
}

function drawCaption() {
  const base = app.meta.scenarios[app.state.base];
  const moved = Object.keys(app.state.budgets).length + Object.keys(app.state.policies).length;
  const scenario = (base ? base[app.lang] : app.state.base) + (moved ? t("ui_edited") : "");
  $("#caption").textContent = t("ui_caption", {
    runs: app.result ? app.result.runs.toLocaleString() : "…", version: app.meta.version, scenario });
}

function translate() {
  document.documentElement.lang = app.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => (el.textContent = t(el.dataset.i18n)));
  document.title = t("ui_title");
  const select = $("#base");
  const chosen = app.state.base;
  if (!app.meta.scenarios[chosen]) app.meta.scenarios[chosen] = { en: chosen, ja: chosen };
  select.innerHTML = Object.entries(app.meta.scenarios)
    .map(([k, v]) => `<option value="${k}">${v[app.lang]}</option>`).join("");
  select.value = chosen;
}

// --- detail, downloads, buttons -------------------------------------------------------

async function showDetail(variable) {
  const div = $("#detail-chart");
  div.dataset.variable = variable;
  const { status, data } = await post("/api/detail",
    { state: app.state, variable, client: `${app.client}-detail`, seq: app.seq });
  if (status === 409) return;
  if (status !== 200) return showError(data.error || `HTTP ${status}`);
  const traces = bandTraces(data.baseline, t("ui_baseline"), "#777", "rgba(120,120,120,0.18)", "dash")
    .concat(bandTraces(data.current, t("ui_current"), "#c05000", "rgba(230,120,30,0.22)", "solid"));
  Plotly.react(div, traces, { title: { text: `${nameOf(data.variable)} [${data.unit}]`,
    font: { size: 13 } }, margin: { l: 60, r: 10, t: 36, b: 30 } }, { displaylogo: false });
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function csv() {
  const rows = [["variable", "year", "baseline_p05", "baseline_p50", "baseline_p95",
    "scenario_p05", "scenario_p50", "scenario_p95"]];
  for (const v of app.meta.charts) {
    const b = app.meta.baseline[v];
    const c = app.result.bands[v];
    b.years.forEach((y, i) => {
      const j = c.years.indexOf(y);
      rows.push([v, y, b.p05[i], b.p50[i], b.p95[i], c.p05[j], c.p50[j], c.p95[j]]);
    });
  }
  const header = `# brainsim explore, model sha256 ${app.meta.version}, scenario ${app.state.base}` +
    ` with ${Object.keys(app.state.policies).length + Object.keys(app.state.budgets).length} levers moved\n`;
  return header + rows.map((r) => r.map((x) => (typeof x === "string" && x.includes(",") ? `"${x}"` : x)).join(",")).join("\n") + "\n";
}

async function loadBase(name) {
  const response = await fetch(`/api/scenario/${encodeURIComponent(name)}`);
  const data = await response.json();
  if (response.status !== 200) return showError(data.error);
  change((state) => Object.assign(state, data));
}

function wire() {
  $("#base").addEventListener("change", (e) => loadBase(e.target.value));
  $("#reset").addEventListener("click", () => change((s) => Object.assign(s,
    { base: "baseline", policies: {}, budgets: {} })));
  $("#undo").addEventListener("click", () => {
    if (!app.undo.length) return;
    app.redo.push(clone(app.state));
    app.state = app.undo.pop();
    refresh();
  });
  $("#redo").addEventListener("click", () => {
    if (!app.redo.length) return;
    app.undo.push(clone(app.state));
    app.state = app.redo.pop();
    refresh();
  });
  $("#lang").addEventListener("click", () => {
    app.lang = app.lang === "en" ? "ja" : "en";
    writeUrl();
    showControls();
    if (app.result) draw(); else translate();
    if ($("#detail-chart").dataset.variable) showDetail($("#detail-chart").dataset.variable);
  });
  $("#yaml").addEventListener("click", () =>
    app.result && download("explorer.yaml", app.result.yaml, "application/yaml"));
  $("#csv").addEventListener("click", () =>
    app.result && download("explorer.csv", csv(), "text/csv"));
  $("#show").addEventListener("click", () => showDetail($("#variable").value));
  $("#upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const { status, data } = await post("/api/upload", { text: await file.text() });
    if (status !== 200) return showError(data.error || `HTTP ${status}`);
    change((state) => Object.assign(state, data));
  });
}

async function main() {
  const response = await fetch("/api/meta");
  app.meta = await response.json();
  readUrl();
  $("#variables").innerHTML = app.meta.variables.map((v) => `<option value="${v}">`).join("");
  buildControls();
  wire();
  translate();
  refresh();
}

main();
