/* cpnet dashboard: one page, hash-routed, that polls the control plane's JSON API with the token
   pasted at login. Plain ES2020 with no build step; charts by the vendored uPlot (window.uPlot).

   Data from the API (job commands, tenant and site names) is only ever put in the page as text
   (textContent, setAttribute), never as HTML. */
"use strict";

const TOKEN_KEY = "cpnet.token"; // sessionStorage only: never localStorage, a cookie or the URL
const POLL_MS = 2000;
const PAGE_SIZE = 50;
const STATES = ["pending", "scheduled", "running", "succeeded", "failed", "cancelled"];
const ENDED = new Set(["succeeded", "failed", "cancelled"]);
const TIERS = ["cloud", "edge", "device"];
const LOG_CHUNK = 1 << 20; // the server's largest log answer: a full one means more is waiting
const LOG_KEEP_CHARS = 2000000; // a huge log keeps only its tail in the page
const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#9333ea", "#a16207", "#be123c", "#0369a1", "#15803d"];

/* ---------- small helpers ---------- */

const $ = (sel, root = document) => root.querySelector(sel);
const color = (i) => (i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 137.5) % 360} 65% 42%)`);

function append(el, kids) {
  for (const k of kids.flat(Infinity)) if (k != null && k !== false) el.append(typeof k === "object" ? k : String(k));
  return el;
}

/** h("a", {href: "#/x", class: "c", onclick: fn}, "text", child...): an element; props are attributes
    except on* (listeners) and value/checked (properties). */
function h(tag, props = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value" || k === "checked") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  return append(el, kids);
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, String(v));
  return append(el, kids);
}

const fmtInt = (x) => Math.round(x).toLocaleString("en-US");

/** A number with about `sig` significant digits, no exponent (energy of a 2 s job is ~0.00003 kWh). */
function fmtNum(x, sig = 3) {
  if (x == null || !Number.isFinite(x)) return "—";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 10 ** sig) return fmtInt(x);
  const digits = Math.min(12, Math.max(0, sig - 1 - Math.floor(Math.log10(a))));
  return x.toLocaleString("en-US", { minimumFractionDigits: 0, maximumFractionDigits: digits });
}

function fmtDur(sec) {
  if (sec == null || !Number.isFinite(sec)) return "—";
  if (sec < 0) sec = 0;
  if (sec < 10) return `${fmtNum(sec, 2)} s`;
  if (sec < 60) return `${Math.round(sec)} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} m ${String(Math.floor(sec % 60)).padStart(2, "0")} s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${String(m % 60).padStart(2, "0")} m`;
  return `${Math.floor(hrs / 24)} d ${hrs % 24} h`;
}

/** A bucket width: "1 min", "6 h", "1 d". */
function fmtBucket(sec) {
  for (const [unit, n] of [["d", 86400], ["h", 3600], ["min", 60]]) if (sec >= n && sec % n === 0) return `${sec / n} ${unit}`;
  return `${sec} s`;
}

const fmtDateTime = (t) => (t == null ? "—" : new Date(t * 1000).toLocaleString());
const shortId = (id) => (id.length > 12 ? id.slice(0, 10) : id);
const shellQuote = (a) => (a === "…" || /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`); // "…": a list's cut
const badge = (cls, text, props = {}) => h("span", { ...props, class: `badge ${cls}` }, text);

/* ---------- messages ---------- */

/** One visible error at a time, in [data-testid=error]; removed (not just hidden) when cleared. */
function showError(message) {
  const box = $("#messages");
  let el = $("[data-testid=error]", box);
  if (!el) el = box.appendChild(h("div", { class: "error", role: "alert", "data-testid": "error" }));
  if (el.textContent !== message) el.textContent = message;
}
function clearError() {
  const el = $("#messages [data-testid=error]");
  if (el) el.remove();
}

/* ---------- the API ---------- */

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

/** GET `path` with the bearer token; the JSON body (or the Response, `raw`). A non-2xx answer throws
    ApiError with the server's `error` text; a 401 also ends the session (back to the login form). */
async function api(path, { raw = false } = {}) {
  let res;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${token()}` }, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message})`);
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && typeof body.error === "string") message = body.error;
    } catch {
      /* not JSON: keep the status line */
    }
    if (res.status === 401) endSession(`${message}: log in again`);
    throw new ApiError(res.status, message);
  }
  return raw ? res : res.json();
}

/* ---------- session ---------- */

let me = null; // GET /v1/whoami of the token, while logged in

function showLogin() {
  $("#top").hidden = true;
  $("#page").hidden = true;
  $("#page").replaceChildren();
  $("#who").replaceChildren();
  $("#updated").replaceChildren();
  $("#login").hidden = false;
  $("#token").focus();
}

function endSession(message) {
  stopPage();
  sessionStorage.clear();
  me = null;
  showLogin();
  if (message) showError(message);
}

async function enter() {
  try {
    me = await api("/v1/whoami");
  } catch (e) {
    if (e.status !== 401) {
      showLogin(); // the server is unreachable or failing: say so, keep the token for a retry
      showError(e.message);
    }
    return;
  }
  clearError();
  $("#login").hidden = true;
  $("#top").hidden = false;
  $("#page").hidden = false;
  $("#who").replaceChildren(
    h("span", { class: "whoami", "data-testid": "whoami", title: `token ${me.token_id}` }, me.admin ? "admin" : `tenant ${me.tenant}`),
    h("button", { type: "button", class: "secondary", "data-testid": "logout", onclick: () => endSession() }, "Log out"),
  );
  route();
}

/* ---------- routing and polling ---------- */

let current = null; // {name, page, timer, busy, again}: the page shown; only it polls

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const [name, ...rest] = path.split("/");
  return { name, arg: rest.length ? decodeURIComponent(rest.join("/")) : null, query: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
}

/** Put a page's filters in the hash without a navigation or a hashchange (the link stays shareable). */
function writeQuery(name, params) {
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null && v !== 0)).toString();
  history.replaceState(null, "", `#/${name}${qs ? `?${qs}` : ""}`);
}

function stopPage() {
  if (!current) return;
  clearTimeout(current.timer);
  if (current.page.stop) current.page.stop();
  current = null;
}

function route() {
  if (!me) return;
  const { name, arg, query } = parseHash();
  if (!PAGES[name] || (name === "job" && !arg)) {
    history.replaceState(null, "", "#/network");
    return route();
  }
  stopPage();
  clearError();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === (name === "job" ? "queue" : name)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = $("#page");
  root.replaceChildren();
  root.dataset.page = name;
  current = { name, page: PAGES[name](root, arg, query), timer: 0, busy: false, again: false };
  tick(current);
}

/** Refresh the shown page every POLL_MS from the start of the last refresh, never two at once, and
    with a pause of at least a quarter of that after a slow answer (a slow server is not hammered).
    A page's refresh() returning false stops its polling (a finished job); one without never polls. */
async function tick(c) {
  if (c !== current || !c.page.refresh) return;
  const started = performance.now();
  c.busy = true;
  c.again = false;
  let more = true;
  try {
    more = (await c.page.refresh()) !== false;
    if (c !== current) return;
    clearError();
    const stamp = new Date().toLocaleTimeString();
    let el = $("#updated [data-testid=updated-at]");
    if (!el) el = $("#updated").appendChild(h("span", { "data-testid": "updated-at", title: "time of the last successful refresh" }));
    el.textContent = `updated ${stamp}`;
  } catch (e) {
    if (c !== current) return;
    if (e.status !== 401) showError(e.message);
    if (!(e instanceof ApiError)) console.error(e);
    if (e.final) more = false; // asking again cannot help (a job this token may not see)
  } finally {
    c.busy = false;
  }
  if (c !== current) return;
  if (c.again) return tick(c);
  if (more && !document.hidden) c.timer = setTimeout(() => tick(c), Math.max(POLL_MS / 4, POLL_MS - (performance.now() - started)));
}

/** Refresh the shown page now (a filter changed), or right after the refresh in flight. */
function kick() {
  const c = current;
  if (!c) return;
  clearTimeout(c.timer);
  if (c.busy) c.again = true;
  else tick(c);
}

/* ---------- tables that update in place ---------- */

/** A table cell from a plain description, so a row can be compared with its previous version:
    a string or number, or {text, cls, title, href, badge, chips: [{text, cls, title}], bar: 0..1}. */
function cell(c, tag = "td") {
  const td = document.createElement(tag);
  if (c == null || c === "") {
    td.className = "muted";
    td.textContent = "—";
    return td;
  }
  if (typeof c !== "object") {
    td.textContent = String(c);
    return td;
  }
  if (c.cls) td.className = c.cls;
  if (c.title) td.title = c.title;
  if (c.href) td.append(h("a", { href: c.href }, c.text));
  else if (c.badge) td.append(badge(c.badge, c.text));
  else if (c.chips) td.append(...c.chips.map((x) => h("span", { class: `chip ${x.cls || ""}`, title: x.title }, x.text)));
  else td.textContent = c.text ?? "";
  if (c.sub) td.append(h("div", { class: "sub" }, c.sub));
  if (c.bar != null) td.append(h("div", { class: `meter${c.bar > 1 ? " over" : ""}` }, h("span", { style: `width:${Math.min(100, c.bar * 100).toFixed(1)}%` })));
  return td;
}

/** Make `tbody` hold `rows` ({key, data: {testid, ...: data-* attributes}, cells: [...]}) in order,
    keeping each row's element and replacing only the cells that changed: polling every 2 s does not
    rebuild the table, so scrolling, hovering and text selection survive. */
function syncRows(tbody, rows) {
  const old = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
  rows.forEach((row, i) => {
    let tr = old.get(row.key);
    old.delete(row.key);
    if (!tr) {
      tr = h("tr", { "data-key": row.key });
      tr._cells = [];
    }
    for (const [k, v] of Object.entries(row.data || {})) if (tr.dataset[k] !== String(v)) tr.dataset[k] = String(v);
    row.cells.forEach((c, j) => {
      const sig = JSON.stringify(c ?? null);
      if (tr._cells[j] === sig) return;
      tr._cells[j] = sig;
      const td = cell(c, j === 0 && row.head ? "th" : "td"); // a row's head cell names it
      if (j === 0 && row.head) td.setAttribute("scope", "row");
      if (tr.children[j]) tr.replaceChild(td, tr.children[j]);
      else tr.append(td);
    });
    while (tr.children.length > row.cells.length) tr.lastChild.remove();
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
  });
  for (const tr of old.values()) tr.remove();
}

function table(columns, props = {}) {
  const tbody = h("tbody");
  const el = h("table", props, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.startsWith("#") ? "num" : null }, c.replace(/^#/, ""))))), tbody);
  return { el, tbody };
}

/* ---------- charts (uPlot) ---------- */

/** A uPlot chart in `host` that follows the host's width and is only rebuilt when its series change
    (new data for the same series is setData: no flicker every 2 s). */
class Chart {
  constructor(host, { height = 260, yLabel = "", yFmt = fmtNum, xTime = true, xFmt = null, xLabel = "x", bars = false } = {}) {
    Object.assign(this, { host, height, yLabel, yFmt, xTime, xFmt, xLabel, bars, plot: null, key: "" });
    this.resize = new ResizeObserver(() => this.plot && this.plot.setSize(this.size()));
    this.resize.observe(host);
  }
  size() {
    return { width: Math.max(240, this.host.clientWidth), height: this.height };
  }
  /** labels: one per series; data: [xs, ys0, ys1, ...] (uPlot's columns); xRange, yMax: fixed axes. */
  set(labels, data, xRange = null, yMax = null) {
    const key = JSON.stringify([labels, xRange, yMax, this.yLabel, data[0].length > 12]);
    if (this.plot && key === this.key) return this.plot.setData(data);
    this.destroyPlot();
    this.key = key;
    const sparse = data[0].length <= 12; // points only where there are few; a line says the rest
    const yFmt = this.yFmt;
    const paths = this.bars ? uPlot.paths.bars({ size: [0.6, 48] }) : this.xTime ? uPlot.paths.stepped({ align: 1 }) : undefined;
    const series = labels.map((label, i) => ({
      label,
      stroke: color(i),
      fill: this.bars ? color(i) + "cc" : undefined,
      width: 1.5,
      paths,
      points: { show: sparse && !this.bars },
      value: (u, v) => (v == null ? "—" : yFmt(v)),
    }));
    const xAxis = { stroke: "#475569", grid: { stroke: "#e2e8f0" } };
    if (this.xFmt) Object.assign(xAxis, { values: (u, vals) => vals.map(this.xFmt), space: 60 });
    this.plot = new uPlot(
      {
        ...this.size(),
        series: [{ label: this.xTime ? "time" : this.xLabel, value: this.xTime ? "{YYYY}-{MM}-{DD} {HH}:{mm}" : (u, v) => (v == null ? "—" : this.xFmt ? this.xFmt(v) : fmtNum(v)) }, ...series],
        scales: { x: { time: this.xTime, range: xRange ? () => xRange : undefined }, y: { range: (u, lo, hi) => [Math.min(0, lo), (yMax ?? hi) > 0 ? (yMax ?? hi) * 1.08 : 1] } },
        axes: [xAxis, { label: this.yLabel, stroke: "#475569", grid: { stroke: "#e2e8f0" }, size: 64, values: (u, vals) => vals.map(yFmt) }],
        cursor: { drag: { x: true, y: false } },
      },
      data,
      this.host,
    );
  }
  destroyPlot() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
  destroy() {
    this.destroyPlot();
    this.resize.disconnect();
  }
}

/** Columns for a chart of per-bucket values: a last point at the end of the last bucket (holding
    its values) so a step line shows every bucket, even when there is one; and that x range. */
function bucketColumns(xs, series, bucketS) {
  const end = xs.length ? xs[xs.length - 1] + bucketS : bucketS;
  return { data: [[...xs, end], ...series.map((ys) => [...ys, ys.length ? ys[ys.length - 1] : 0])], range: [xs.length ? xs[0] : 0, end] };
}

/* ---------- Network ---------- */

const MAP_W = 960;
const MAP_H = 520;
const MAP_M = 56; // room around the sites for their labels
const hasPlace = (site) => Number.isFinite(site.lat) && Number.isFinite(site.lon) && !(site.lat === 0 && site.lon === 0);

let measureCtx = null;
function textWidth(text, px) {
  measureCtx = measureCtx || document.createElement("canvas").getContext("2d");
  measureCtx.font = `${px}px system-ui, sans-serif`;
  return measureCtx.measureText(text).width;
}

function tierShape(tier, size = 7) {
  if (tier === "cloud") return s("rect", { x: -size, y: -size, width: 2 * size, height: 2 * size, rx: 2 });
  if (tier === "device") return s("polygon", { points: `0,${-size - 1} ${size},${size - 1} ${-size},${size - 1}` });
  return s("circle", { r: size });
}

/** Scenarios derive the links they do not declare from distance, all at one default bandwidth: the
    map shows the declared ones (any other bandwidth) unless asked for all, or it is a hairball. */
function mapLinks(links, all) {
  if (all || !links.length) return { shown: links, rule: "" };
  const n = new Map();
  for (const l of links) n.set(l.bandwidth_gbps, (n.get(l.bandwidth_gbps) || 0) + 1);
  const [mode, count] = [...n.entries()].sort((a, b) => b[1] - a[1])[0];
  if (count <= links.length / 2 || count === links.length) return { shown: links, rule: "" };
  return { shown: links.filter((l) => l.bandwidth_gbps !== mode), rule: `${count} distance-derived ${fmtNum(mode)} Gb/s links hidden` };
}

/** Push apart points closer than `gap` (a device site next to its edge site would hide under it):
    a few rounds of moving each close pair apart along the line between them. */
function spread(points, gap) {
  for (let round = 0; round < 20; round++) {
    let moved = false;
    for (let i = 0; i < points.length; i++) {
      for (let j = i + 1; j < points.length; j++) {
        const [a, b] = [points[i], points[j]];
        let dx = b[0] - a[0];
        let dy = b[1] - a[1];
        let d = Math.hypot(dx, dy);
        if (d >= gap) continue;
        if (d < 0.01) [dx, dy, d] = [1, 0, 1]; // the same place: split sideways
        const push = (gap - d) / 2 + 0.1;
        a[0] -= (dx / d) * push;
        a[1] -= (dy / d) * push;
        b[0] += (dx / d) * push;
        b[1] += (dy / d) * push;
        moved = true;
      }
    }
    if (!moved) return;
  }
}

/** The sites on an equirectangular projection fitted to their bounding box (x scaled by cos of the
    middle latitude so distances look right), a graticule, the links with their latency, a label per
    site placed where it overlaps nothing. Sites without a location (0, 0) go in a strip below. */
function drawMap(svgEl, sites, links) {
  const placed = sites.filter(hasPlace);
  const unplaced = sites.filter((x) => !hasPlace(x));
  const stripH = unplaced.length ? 46 : 0;
  svgEl.setAttribute("viewBox", `0 0 ${MAP_W} ${MAP_H + stripH}`);
  const lats = placed.map((x) => x.lat);
  const lons = placed.map((x) => x.lon);
  let [lat0, lat1, lon0, lon1] = placed.length ? [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)] : [-60, 70, -180, 180];
  const grow = (lo, hi, min) => (hi - lo >= min ? [lo, hi] : [(lo + hi - min) / 2, (lo + hi + min) / 2]);
  [lat0, lat1] = grow(lat0, lat1, 2);
  [lon0, lon1] = grow(lon0, lon1, 2);
  const kx = Math.cos((((lat0 + lat1) / 2) * Math.PI) / 180);
  const scale = Math.min((MAP_W - 2 * MAP_M) / ((lon1 - lon0) * kx), (MAP_H - 2 * MAP_M) / (lat1 - lat0));
  const ox = (MAP_W - (lon1 - lon0) * kx * scale) / 2;
  const oy = (MAP_H - (lat1 - lat0) * scale) / 2;
  const X = (lon) => ox + (lon - lon0) * kx * scale;
  const Y = (lat) => oy + (lat1 - lat) * scale;

  const grid = s("g", { class: "graticule" });
  const lonMin = lon0 - ox / (kx * scale);
  const lonMax = lon0 + (MAP_W - ox) / (kx * scale);
  const latMax = lat1 + oy / scale;
  const latMin = lat1 - (MAP_H - oy) / scale;
  const step = [1, 2, 5, 10, 15, 30, 45].find((st) => (lonMax - lonMin) / st <= 10) || 60;
  for (let lo = Math.ceil(lonMin / step) * step; lo <= lonMax; lo += step) {
    grid.append(s("line", { x1: X(lo), x2: X(lo), y1: 0, y2: MAP_H }), s("text", { x: X(lo) + 3, y: 12 }, `${Math.abs(lo)}°${lo < 0 ? "W" : "E"}`));
  }
  for (let la = Math.ceil(latMin / step) * step; la <= latMax; la += step) {
    grid.append(s("line", { x1: 0, x2: MAP_W, y1: Y(la), y2: Y(la) }), s("text", { x: 3, y: Y(la) - 3 }, `${Math.abs(la)}°${la < 0 ? "S" : "N"}`));
  }

  const at = new Map();
  placed.forEach((x) => at.set(x.id, [X(x.lon), Y(x.lat)]));
  unplaced.forEach((x, i) => at.set(x.id, [MAP_M + 110 + i * 150, MAP_H + stripH / 2]));
  spread(placed.map((x) => at.get(x.id)), 16);

  // Labels go where they overlap no marker and no other label; one that fits nowhere keeps its tooltip.
  const taken = [...at.values()].map(([x, y]) => [x - 9, y - 9, x + 9, y + 9]);
  const labels = []; // the boxes of the labels placed so far
  const hits = (b, boxes) => boxes.some((t) => b[0] < t[2] && t[0] < b[2] && b[1] < t[3] && t[1] < b[3]);
  const free = (b) => b[0] >= 0 && b[2] <= MAP_W && b[1] >= 0 && b[3] <= MAP_H + stripH && !hits(b, taken);
  // A leader line from a marker to a label further away must not cross another label either.
  const clearPath = (x0, y0, x1, y1) => [0.35, 0.5, 0.65, 0.8].every((f) => !hits([x0 + (x1 - x0) * f - 1, y0 + (y1 - y0) * f - 1, x0 + (x1 - x0) * f + 1, y0 + (y1 - y0) * f + 1], labels));
  function place(text, px, spots, from = null) {
    const w = textWidth(text, px) + 4;
    for (const [x, y, anchor] of spots) {
      const x0 = anchor === "end" ? x - w : anchor === "middle" ? x - w / 2 : x;
      const box = [x0, y - px * 0.8, x0 + w, y + px * 0.3];
      if (free(box) && (!from || clearPath(from[0], from[1], x, y - 4))) {
        taken.push(box);
        labels.push(box);
        return [x, y, anchor];
      }
    }
    return null;
  }

  const linkG = s("g", { class: "links" });
  const linkLabels = [];
  for (const l of links) {
    if (!at.has(l.a) || !at.has(l.b)) continue;
    const [x1, y1] = at.get(l.a);
    const [x2, y2] = at.get(l.b);
    const tip = `${l.a} ↔ ${l.b}: ${fmtNum(l.latency_ms)} ms, ${fmtNum(l.bandwidth_gbps)} Gb/s`;
    linkG.append(s("line", { x1, y1, x2, y2, "stroke-width": (0.8 + Math.log10(1 + l.bandwidth_gbps) * 0.7).toFixed(2) }, s("title", {}, tip)));
    linkLabels.push({ l, x1, y1, x2, y2, tip, len: Math.hypot(x2 - x1, y2 - y1) });
  }

  const markG = s("g", { class: "markers" });
  const labelG = s("g", { class: "labels" });
  // Smaller tiers on top: a device site stays visible beside a cloud hub.
  const drawOrder = [...sites].sort((a, b) => TIERS.indexOf(a.tier) - TIERS.indexOf(b.tier));
  for (const site of drawOrder) {
    const [x, y] = at.get(site.id);
    markG.append(
      s(
        "g",
        { class: `marker tier-${site.tier} state-${site.state}`, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`, "data-testid": "site-marker", "data-site": site.id, tabindex: 0 },
        tierShape(site.tier),
        s("title", {}, site.id),
      ),
    );
  }
  for (const site of sites) {
    const [x, y] = at.get(site.id);
    const spots = [];
    for (const r of [11, 22, 34]) spots.push([x + r, y + 4, "start"], [x - r, y + 4, "end"], [x, y - r + 2, "middle"], [x, y + r + 8, "middle"], [x + r, y - r / 1.5, "start"], [x - r, y - r / 1.5, "end"], [x + r, y + r, "start"], [x - r, y + r, "end"]);
    const p = place(site.id, 11, spots, [x, y]);
    if (!p) continue;
    if (Math.hypot(p[0] - x, p[1] - y) > 15) labelG.append(s("line", { class: "leader", x1: x, y1: y, x2: p[0], y2: p[1] - 4 }));
    labelG.append(s("text", { class: "site-label", x: p[0], y: p[1], "text-anchor": p[2] }, site.id));
  }
  // Longest links first: short ones sit among crowded markers, where a label fits least.
  for (const k of linkLabels.sort((a, b) => b.len - a.len)) {
    if (k.len < 40) continue;
    const spots = [0.5, 0.4, 0.6, 0.3, 0.7].map((f) => [k.x1 + (k.x2 - k.x1) * f, k.y1 + (k.y2 - k.y1) * f + 3, "middle"]);
    const p = place(`${fmtNum(k.l.latency_ms, 2)} ms`, 9.5, spots);
    if (p) labelG.append(s("text", { class: "link-label", x: p[0], y: p[1], "text-anchor": "middle" }, `${fmtNum(k.l.latency_ms, 2)} ms`, s("title", {}, k.tip)));
  }
  const strip = unplaced.length
    ? s("g", { class: "strip" }, s("rect", { x: 0, y: MAP_H, width: MAP_W, height: stripH }), s("text", { x: MAP_M, y: MAP_H + stripH / 2 + 4 }, "no location:"))
    : null;
  svgEl.replaceChildren(s("rect", { class: "sea", width: MAP_W, height: MAP_H }), grid, strip, linkG, markG, labelG);
}

function siteRow(x) {
  const models = Object.keys(x.inventory);
  const busyAll = models.reduce((n, m) => n + (x.busy[m] || 0), 0);
  const totalAll = models.reduce((n, m) => n + x.inventory[m], 0);
  return {
    key: x.id,
    head: true,
    data: { testid: "site-row", site: x.id, tier: x.tier, state: x.state },
    cells: [
      { text: x.id, cls: "mono" },
      { badge: `tier-${x.tier}`, text: x.tier },
      x.region,
      { badge: `site-${x.state}`, text: x.state },
      {
        chips: models.map((m) => {
          const busy = x.busy[m] || 0;
          return { text: `${m} ${x.inventory[m] - busy} free · ${busy} busy`, cls: busy ? "busy" : "", title: `${m}: ${x.inventory[m]} devices, ${busy} busy` };
        }),
        sub: `${totalAll - busyAll} of ${totalAll} free`,
      },
      x.power_cap_kw
        ? { text: `${fmtNum(x.power_kw)} / ${fmtNum(x.power_cap_kw)} kW cap`, bar: x.power_kw / x.power_cap_kw, cls: "num" }
        : { text: `${fmtNum(x.power_kw)} kW`, sub: "no cap", cls: "num" },
      { text: `$${fmtNum(x.price_usd_per_kwh)}`, cls: "num" },
      { text: fmtNum(x.carbon_g_per_kwh), cls: "num" },
    ],
  };
}

function networkPage(root) {
  const map = s("svg", { class: "map", role: "img", "aria-label": "map of the sites and their links", preserveAspectRatio: "xMidYMid meet" });
  const allLinks = h("input", { type: "checkbox", "data-testid": "links-all" });
  const linkNote = h("span", { class: "muted" });
  const legend = h(
    "div",
    { class: "legend" },
    TIERS.map((tier) => h("span", { class: "legend-item" }, s("svg", { viewBox: "-9 -9 18 18", class: `marker tier-${tier}` }, tierShape(tier)), tier)),
    h("span", { class: "legend-item" }, s("svg", { viewBox: "-9 -9 18 18", class: "marker state-down" }, s("circle", { r: 7 })), "down"),
    h("span", { class: "legend-item" }, s("svg", { viewBox: "0 -4 24 8", class: "legend-link" }, s("line", { x1: 0, x2: 24, y1: 0, y2: 0 })), "link (latency ms)"),
    h("label", { class: "legend-item" }, allLinks, "all links"),
    linkNote,
  );
  const sites = table(["Site", "Tier", "Region", "State", "Devices by model", "#Power draw", "#Price $/kWh now", "#Carbon gCO2/kWh now"], { class: "data", "data-testid": "site-table" });
  root.append(h("h1", {}, "Network"), legend, h("div", { class: "card map-card" }, map), h("h2", {}, "Sites"), sites.el);

  let last = null;
  let drawnKey = "";
  function draw() {
    const { shown, rule } = mapLinks(last.links, allLinks.checked);
    // Redraw the map only when what it shows moved; busy devices and power change the tooltips only.
    const key = JSON.stringify([last.sites.map((x) => [x.id, x.tier, x.lat, x.lon, x.state]), shown]);
    if (key !== drawnKey) {
      drawMap(map, last.sites, shown);
      drawnKey = key;
    }
    linkNote.textContent = `${shown.length} of ${last.links.length} links shown${rule ? ` (${rule})` : ""}`;
    const byId = new Map(last.sites.map((x) => [x.id, x]));
    for (const g of map.querySelectorAll("[data-testid=site-marker]")) {
      const x = byId.get(g.dataset.site);
      const models = Object.keys(x.inventory);
      const tip = `${x.id} (${x.tier}, ${x.region}, ${x.state})\n${models.map((m) => `${m}: ${x.busy[m] || 0}/${x.inventory[m]} busy`).join("\n")}\n${fmtNum(x.power_kw)} kW`;
      const title = g.querySelector("title");
      if (title.textContent !== tip) title.textContent = tip;
    }
  }
  allLinks.addEventListener("change", () => last && draw());
  map.addEventListener("click", (ev) => {
    const g = ev.target.closest("[data-testid=site-marker]");
    const tr = g && sites.tbody.querySelector(`tr[data-site="${CSS.escape(g.dataset.site)}"]`);
    if (!tr) return;
    tr.scrollIntoView({ block: "center", behavior: "smooth" });
    tr.classList.add("flash");
    setTimeout(() => tr.classList.remove("flash"), 1200);
  });
  return {
    async refresh() {
      last = await api("/v1/dashboard/network");
      draw();
      syncRows(sites.tbody, last.sites.map(siteRow));
    },
  };
}

/* ---------- Queue ---------- */

function where(j) {
  if (j.placement) return `${j.placement.site} · ${j.placement.accelerator} ×${j.placement.devices}`;
  return { text: `wants ${j.accelerator || "any model"} ×${j.devices}`, cls: "muted" };
}

function jobRow(j, now) {
  const elapsed = j.started_s == null ? null : (j.finished_s ?? now) - j.started_s;
  return {
    key: j.id,
    data: { testid: "job-row", job: j.id, state: j.state },
    cells: [
      // short_id: what the CLI takes for this job (the server's shortest unique prefix), when given
      { href: `#/job/${encodeURIComponent(j.id)}`, text: j.short_id || shortId(j.id), title: j.id, cls: "mono", sub: j.name || undefined },
      j.tenant,
      { badge: `state-${j.state}`, text: j.state },
      j.reason ? { text: j.reason, cls: "reason", title: j.reason } : null,
      j.position == null ? null : { text: `#${fmtInt(j.position)}`, cls: "num" },
      where(j),
      { text: fmtDur(now - j.submitted_s), title: fmtDateTime(j.submitted_s), cls: "num" },
      elapsed == null ? null : { text: fmtDur(elapsed), cls: "num" },
      { text: j.command.map(shellQuote).join(" "), cls: "mono command", title: j.command.join(" ") },
    ],
  };
}

function queuePage(root, _arg, query) {
  const f = {
    state: STATES.includes(query.get("state")) ? query.get("state") : "",
    tenant: query.get("tenant") || "", // a tenant's link may name another tenant: the API answers 403, shown
    site: query.get("site") || "",
    offset: Math.max(0, parseInt(query.get("offset") || "0", 10) || 0),
  };
  const apply = (change) => {
    Object.assign(f, "offset" in change ? change : { ...change, offset: 0 });
    writeQuery("queue", f);
    kick();
  };
  const stateSel = h("select", { "data-testid": "filter-state", onchange: () => apply({ state: stateSel.value }) }, h("option", { value: "" }, "all states"), STATES.map((x) => h("option", { value: x }, x)));
  stateSel.value = f.state;
  const siteSel = h("select", { "data-testid": "filter-site", onchange: () => apply({ site: siteSel.value }) }, h("option", { value: "" }, "all sites"));
  if (f.site) siteSel.append(h("option", { value: f.site }, f.site));
  siteSel.value = f.site;
  let sitesFilled = false;
  let tenantIn = null;
  if (me.admin) {
    // Applied on Enter or leaving the field, and after a pause in typing.
    let timer = 0;
    const commit = () => {
      clearTimeout(timer);
      if (tenantIn.value.trim() !== f.tenant) apply({ tenant: tenantIn.value.trim() });
    };
    tenantIn = h("input", {
      type: "search",
      "data-testid": "filter-tenant",
      placeholder: "every tenant",
      value: f.tenant,
      spellcheck: "false",
      onkeydown: (e) => e.key === "Enter" && commit(),
      onchange: commit,
      oninput: () => {
        clearTimeout(timer);
        timer = setTimeout(commit, 500);
      },
    });
  }
  const counts = h("div", { class: "counts", "data-testid": "queue-counts" });
  const countEls = new Map();
  for (const x of ["", ...STATES]) {
    const n = h("b", {}, "…");
    const btn = h("button", { type: "button", class: `count state-${x || "all"}`, "data-testid": `count-${x || "all"}`, onclick: () => apply({ state: x }) }, x || "all", " ", n);
    countEls.set(x, { btn, n });
    counts.append(btn);
  }
  const jobs = table(["Job", "Tenant", "State", "Reason", "#Position", "Where", "#Age", "#Elapsed", "Command"], { class: "data", "data-testid": "job-table" });
  const empty = h("p", { class: "muted empty", hidden: true }, "No jobs match.");
  const prev = h("button", { type: "button", class: "secondary", disabled: true, "data-testid": "prev-page", onclick: () => apply({ offset: Math.max(0, f.offset - PAGE_SIZE) }) }, "‹ Previous");
  const next = h("button", { type: "button", class: "secondary", disabled: true, "data-testid": "next-page", onclick: () => apply({ offset: f.offset + PAGE_SIZE }) }, "Next ›");
  const range = h("span", { class: "muted", "data-testid": "page-range" });
  root.append(
    h("h1", {}, "Queue"),
    h(
      "div",
      { class: "filters" },
      h("label", {}, "State ", stateSel),
      tenantIn && h("label", {}, "Tenant ", tenantIn),
      // A tenant token has no tenant filter, but a link may carry one: say so, and offer to drop it.
      !tenantIn && f.tenant && h("span", { class: "muted" }, `tenant ${f.tenant} (from the link) `, h("a", { href: "#/queue", "data-testid": "clear-tenant" }, "show my jobs")),
      h("label", {}, "Site ", siteSel),
    ),
    counts,
    h("div", { class: "table-wrap" }, jobs.el),
    empty,
    h("div", { class: "pager" }, prev, range, next),
  );

  return {
    async refresh() {
      const q = new URLSearchParams({ offset: f.offset, limit: PAGE_SIZE });
      if (f.state) q.append("state", f.state);
      if (f.tenant) q.set("tenant", f.tenant);
      if (f.site) q.set("site", f.site);
      // The site filter's options come from the network, read once, beside the first page of jobs.
      const noSites = (e) => {
        if (e.status === 401) throw e;
        return null; // the queue still shows; the next refresh tries again
      };
      const [net, d] = await Promise.all([sitesFilled ? null : api("/v1/dashboard/network").catch(noSites), api(`/v1/dashboard/queue?${q}`)]);
      if (net && !sitesFilled) {
        for (const x of net.sites) if (x.id !== f.site) siteSel.append(h("option", { value: x.id }, x.id));
        siteSel.value = f.site;
        sitesFilled = true;
      }
      const all = Object.values(d.counts).reduce((a, b) => a + b, 0);
      for (const [x, { btn, n }] of countEls) {
        const text = fmtInt(x ? d.counts[x] || 0 : all);
        if (n.textContent !== text) n.textContent = text;
        btn.setAttribute("aria-pressed", String(x === f.state));
      }
      syncRows(jobs.tbody, d.jobs.map((j) => jobRow(j, d.as_of_s)));
      empty.hidden = d.jobs.length > 0;
      prev.disabled = f.offset === 0;
      next.disabled = f.offset + PAGE_SIZE >= d.total;
      range.textContent = d.total ? `${fmtInt(Math.min(d.total, f.offset + 1))}–${fmtInt(Math.min(d.total, f.offset + d.jobs.length))} of ${fmtInt(d.total)}` : "0 jobs";
    },
  };
}

/* ---------- Job ---------- */

function jobPage(root, id) {
  const title = h("h1", {}, "Job ", h("span", { class: "mono" }, id));
  const waiting = h("p", { class: "muted" }, "Loading…");
  root.append(title, waiting);
  let built = null;
  let logOffset = 0;
  let logChars = 0;
  const decoder = new TextDecoder(); // one decoder with stream: a character split across two reads survives

  function build() {
    const stateEl = h("span", { class: "badge", "data-testid": "job-state" });
    const facts = h("dl", { class: "facts card" });
    const events = table(["Time", "Kind", "From", "To", "Message"], { class: "data", "data-testid": "job-events" });
    const attempts = table(["#Attempt", "Site", "Model", "#Devices", "Start", "End", "#Device-seconds", "#Energy kWh", "Source"], { class: "data", "data-testid": "job-attempts" });
    const logs = h("pre", { class: "logs", "data-testid": "job-logs" });
    const logNote = h("span", { class: "muted" });
    title.append(" ", stateEl);
    waiting.replaceWith(facts, h("h2", {}, "Events"), events.el, h("h2", {}, "Attempts"), attempts.el, h("h2", {}, "Output ", logNote), logs);
    return { stateEl, facts, events, attempts, logs, logNote };
  }

  function fact(dl, label, value) {
    dl.append(h("dt", {}, label), h("dd", {}, value == null || value === "" ? "—" : value));
  }

  function showJob(j) {
    if (built.stateEl.textContent !== j.state) {
      built.stateEl.textContent = j.state;
      built.stateEl.className = `badge state-${j.state}`;
    }
    const now = Date.now() / 1000;
    const dl = h("dl", { class: "facts card" });
    if (j.name) fact(dl, "Name", j.name);
    if (j.short_id) fact(dl, "Short id", h("code", {}, j.short_id));
    fact(dl, "Tenant", j.tenant);
    fact(dl, "Command", h("code", {}, j.command.map(shellQuote).join(" ")));
    fact(dl, "Wants", `${j.accelerator || "any model"} ×${j.devices}${j.job_type ? ` (${j.job_type})` : ""}`);
    fact(dl, "Placement", j.placement ? `${j.placement.site} · ${j.placement.accelerator} ×${j.placement.devices}${j.placement.emulated ? " (emulated)" : ""}` : null);
    fact(dl, "Attempt", j.attempt);
    fact(dl, "Exit code", j.exit_code);
    fact(dl, "Reason", j.reason);
    fact(dl, "Submitted", fmtDateTime(j.submitted_s));
    fact(dl, "Started", j.started_s == null ? null : `${fmtDateTime(j.started_s)} (waited ${fmtDur(j.started_s - j.submitted_s)})`);
    fact(dl, "Finished", j.finished_s == null ? null : `${fmtDateTime(j.finished_s)} (ran ${fmtDur(j.finished_s - j.started_s)})`);
    if (j.finished_s == null) fact(dl, j.started_s == null ? "Waiting for" : "Running for", fmtDur(now - (j.started_s ?? j.submitted_s)));
    // The facts list is small: replace it only when its text changed.
    if (dl.textContent !== built.facts.textContent) {
      built.facts.replaceWith(dl);
      built.facts = dl;
    }
  }

  async function pullLogs() {
    let state = null;
    for (let i = 0; i < 8; i++) {
      const res = await api(`/v1/jobs/${encodeURIComponent(id)}/logs?offset=${logOffset}`, { raw: true });
      const bytes = await res.arrayBuffer();
      state = res.headers.get("X-Job-State");
      const next = Number(res.headers.get("X-Next-Offset"));
      logOffset = Number.isFinite(next) ? next : logOffset + bytes.byteLength;
      if (bytes.byteLength) appendLog(decoder.decode(bytes, { stream: true }));
      if (bytes.byteLength < LOG_CHUNK) break;
    }
    const ended = ENDED.has(state);
    built.logNote.textContent = `${fmtInt(logOffset)} bytes${ended ? "" : ", following"}`;
    return ended;
  }

  function appendLog(text) {
    const pre = built.logs;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(text); // a new text node: the text already shown is not touched
    logChars += text.length;
    if (logChars > LOG_KEEP_CHARS) {
      const keep = pre.textContent.slice(-LOG_KEEP_CHARS / 2);
      pre.textContent = `[earlier output not shown: \`cpnet job logs ${id}\` prints all of it]\n${keep}`;
      logChars = pre.textContent.length;
    }
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  return {
    async refresh() {
      const base = `/v1/jobs/${encodeURIComponent(id)}`;
      let j, ev, at;
      try {
        [j, ev, at] = await Promise.all([api(base), api(`${base}/events`), api(`${base}/attempts`)]);
      } catch (e) {
        if (e.status === 404 && !built) {
          // Another tenant's job and a job that does not exist read the same: nothing is shown.
          waiting.replaceChildren("This token sees no job with this id. ", h("a", { href: "#/queue" }, "Back to the queue"));
          e.final = true;
        }
        throw e;
      }
      if (!built) built = build();
      showJob(j);
      syncRows(
        built.events.tbody,
        ev.events.map((e, i) => ({ key: String(i), cells: [fmtDateTime(e.t_s), e.kind, e.from_state, e.to_state ? { badge: `state-${e.to_state}`, text: e.to_state } : null, e.message] })),
      );
      syncRows(
        built.attempts.tbody,
        at.attempts.map((a) => ({
          key: String(a.attempt),
          cells: [
            { text: a.attempt, cls: "num" },
            a.site,
            a.accelerator,
            { text: a.devices, cls: "num" },
            fmtDateTime(a.start_s),
            a.end_s == null ? { text: "running", cls: "muted" } : fmtDateTime(a.end_s),
            { text: fmtNum(a.device_s), sub: `${fmtNum(a.device_s / 3600)} device-h`, cls: "num" },
            { text: fmtNum(a.energy_kwh), cls: "num" },
            a.energy_source,
          ],
        })),
      );
      // The log read that follows the job's end is its last: the server reads the job, then the file.
      const logEnded = await pullLogs();
      return !(ENDED.has(j.state) && logEnded);
    },
  };
}

/* ---------- Tenants ---------- */

/** A tenant's usage by model, largest first: the top few as chips, the rest summed in one. */
function modelChips(byModel, top = 4) {
  const used = (v) => (v >= 3600 ? `${fmtNum(v / 3600)} device-h` : `${fmtNum(v)} device-s`);
  const all = Object.entries(byModel).sort((a, b) => b[1] - a[1]);
  const chips = all.slice(0, top).map(([m, v]) => ({ text: `${m} ${used(v)}`, title: `${fmtNum(v)} device-seconds` }));
  const rest = all.slice(top);
  if (rest.length) chips.push({ text: `+${rest.length} more: ${used(rest.reduce((n, [, v]) => n + v, 0))}`, title: rest.map(([m, v]) => `${m} ${used(v)}`).join("\n"), cls: "more" });
  return { chips };
}

function tenantsPage(root) {
  const chartHost = h("div", { class: "chart", "data-testid": "tenant-chart" });
  const bucketNote = h("span", { class: "muted" });
  const rows = table(["Tenant", "#Weight", "Jobs by state", "#Device-seconds", "#Energy kWh", "Usage by model"], { class: "data", "data-testid": "tenant-table" });
  let chart = null;
  root.append(
    h("h1", {}, "Tenants"),
    h("p", { class: "muted quiet" }, "Usage in device-seconds (quotas arrive with the tenants issue)."),
    rows.el,
    h("h2", {}, "Usage over time ", bucketNote),
  );
  return {
    async refresh() {
      const d = await api("/v1/dashboard/tenants");
      syncRows(
        rows.tbody,
        d.tenants.map((t) => ({
          key: t.id,
          head: true,
          data: { testid: "tenant-row", tenant: t.id },
          cells: [
            { text: t.id, cls: "mono" },
            { text: fmtNum(t.weight), cls: "num" },
            { chips: STATES.filter((x) => t.jobs[x]).map((x) => ({ text: `${fmtInt(t.jobs[x])} ${x}`, cls: `state-${x}` })) },
            { text: fmtNum(t.device_s), sub: `${fmtNum(t.device_s / 3600)} device-h`, cls: "num" },
            { text: fmtNum(t.energy_kwh), cls: "num" },
            modelChips(t.by_model),
          ],
        })),
      );
      if (!d.tenants.length) return;
      if (!chart) {
        root.append(chartHost);
        chart = new Chart(chartHost, { yLabel: "device-seconds per bucket" });
      }
      bucketNote.textContent = `(device-seconds per ${fmtBucket(d.bucket_s)} bucket)`;
      const cols = bucketColumns(
        d.tenants[0].history.map((b) => b.t_s),
        d.tenants.map((t) => t.history.map((b) => b.device_s)),
        d.bucket_s,
      );
      chart.set(
        d.tenants.map((t) => t.id),
        cols.data,
        cols.range,
      );
    },
    stop() {
      if (chart) chart.destroy();
    },
  };
}

/* ---------- Energy ---------- */

const ENERGY_METRICS = [
  { key: "kwh", label: "kWh", y: "kWh per bucket" },
  { key: "kg_co2", label: "kgCO2", y: "kgCO2 per bucket" },
  { key: "cost_usd", label: "cost USD", y: "USD per bucket" },
];

function energyPage(root) {
  let metric = ENERGY_METRICS[0];
  let last = null;
  let chart = null;
  const chartHost = h("div", { class: "chart", "data-testid": "energy-chart" });
  const buttons = ENERGY_METRICS.map((m) =>
    h(
      "button",
      {
        type: "button",
        class: "toggle",
        "data-testid": `energy-metric-${m.key}`,
        "aria-pressed": String(m === metric),
        onclick: () => {
          metric = m;
          buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(ENERGY_METRICS[i] === m)));
          if (last) plot();
        },
      },
      m.label,
    ),
  );
  const bucketNote = h("span", { class: "muted" });
  const rows = table(["Site", "Tier", "#kWh", "#kgCO2", "#Cost USD"], { class: "data", "data-testid": "energy-table" });
  const empty = h("p", { class: "muted empty", hidden: true }, "No energy used yet: no job has run.");
  root.append(
    h("h1", {}, "Energy"),
    h("p", { class: "muted quiet" }, "Energy of the jobs' attempts, with carbon and electricity cost at each site's intensity and price over time."),
    h("div", { class: "chart-head" }, h("div", { class: "toggles", role: "group", "aria-label": "chart metric" }, buttons), bucketNote),
  );

  function plot() {
    if (!chart) {
      rows.el.before(chartHost);
      chart = new Chart(chartHost, { yLabel: metric.y });
    }
    chart.yLabel = metric.y;
    chartHost.dataset.metric = metric.key;
    bucketNote.textContent = `${metric.label} per ${fmtBucket(last.bucket_s)} bucket, by site`;
    const start = Math.floor(last.as_of_s / last.bucket_s) * last.bucket_s;
    const xs = last.sites.length ? last.sites[0].series.map((b) => b.t_s) : [start];
    const labels = last.sites.length ? last.sites.map((x) => x.site) : ["no energy yet"];
    const cols = bucketColumns(xs, last.sites.length ? last.sites.map((x) => x.series.map((b) => b[metric.key])) : [[0]], last.bucket_s);
    chart.set(labels, cols.data, cols.range);
  }

  root.append(rows.el, empty);
  return {
    async refresh() {
      last = await api("/v1/dashboard/energy");
      plot();
      const money = (x) => `$${fmtNum(x)}`;
      const total = last.tiers.reduce((a, t) => ({ kwh: a.kwh + t.kwh, kg_co2: a.kg_co2 + t.kg_co2, cost_usd: a.cost_usd + t.cost_usd }), { kwh: 0, kg_co2: 0, cost_usd: 0 });
      const line = (x) => [{ text: fmtNum(x.kwh), cls: "num" }, { text: fmtNum(x.kg_co2), cls: "num" }, { text: money(x.cost_usd), cls: "num" }];
      syncRows(rows.tbody, [
        ...last.sites.map((x) => ({ key: `site:${x.site}`, head: true, data: { testid: "energy-row", site: x.site, tier: x.tier }, cells: [{ text: x.site, cls: "mono" }, { badge: `tier-${x.tier}`, text: x.tier }, ...line(x)] })),
        ...last.tiers.map((t) => ({ key: `tier:${t.tier}`, data: { testid: "energy-row", tier: t.tier, total: "tier" }, cells: [{ text: `all ${t.tier} sites`, cls: "total" }, { badge: `tier-${t.tier}`, text: t.tier }, ...line(t)] })),
        ...(last.tiers.length > 1 ? [{ key: "total", data: { testid: "energy-row", total: "all" }, cells: [{ text: "all sites", cls: "total" }, "", ...line(total)] }] : []),
      ]);
      for (const tr of rows.tbody.children) tr.classList.toggle("subtotal", tr.dataset.key.startsWith("tier:") || tr.dataset.key === "total");
      empty.hidden = last.sites.length > 0;
    },
    stop() {
      if (chart) chart.destroy();
    },
  };
}

/* ---------- Simulations ---------- */

// The metrics shown first; "all metrics" shows every number the results hold.
const SIM_MAIN = ["jobs_finished", "avg_jct_s", "median_jct_s", "p99_jct_s", "avg_queue_s", "makespan_s", "utilization", "energy_kwh", "cost_usd", "carbon_kg", "data_moved_gb", "deadline_misses", "jain_index"];

/** A metric's unit from its key name (avg_jct_s, energy_kwh, cost_usd, carbon_kg, data_moved_gb...). */
function simUnit(key, values) {
  if (/_s$/.test(key)) {
    const big = Math.max(0, ...values.filter(Number.isFinite));
    const [unit, div] = big >= 2 * 3600 ? ["h", 3600] : big >= 120 ? ["min", 60] : ["s", 1];
    return { label: key.replace(/_s$/, ""), unit, fmt: (v) => fmtNum(v / div) };
  }
  const suffixes = [
    ["_kwh", "kWh"],
    ["_usd", "USD"],
    ["_kg", "kg"],
    ["_gb_km", "GB·km"],
    ["_gb", "GB"],
    ["_h", "h"],
  ];
  for (const [suffix, unit] of suffixes) if (key.endsWith(suffix)) return { label: key.slice(0, -suffix.length), unit, fmt: (v) => fmtNum(v) };
  if (key.startsWith("utilization")) return { label: key, unit: "%", fmt: (v) => fmtNum(v * 100) };
  return { label: key, unit: "", fmt: (v) => (Number.isInteger(v) ? fmtInt(v) : fmtNum(v)) };
}

/** The time series a run holds: any object with a times_s list and lists (or a map of lists) as long. */
function simSeries(run) {
  const out = [];
  for (const [name, v] of Object.entries(run)) {
    if (!v || typeof v !== "object" || !Array.isArray(v.times_s) || !v.times_s.length) continue;
    const n = v.times_s.length;
    const series = [];
    for (const [k, list] of Object.entries(v)) {
      if (k === "times_s") continue;
      if (Array.isArray(list) && list.length === n) series.push([k, list]);
      else if (list && typeof list === "object") for (const [k2, l2] of Object.entries(list)) if (Array.isArray(l2) && l2.length === n) series.push([k2, l2]);
    }
    if (series.length) out.push({ name, times: v.times_s, series });
  }
  return out;
}

function simulationsPage(root) {
  const file = h("input", { type: "file", accept: ".json,application/json", "data-testid": "results-file" });
  const allBox = h("input", { type: "checkbox", "data-testid": "sim-all-metrics" });
  const out = h("div", { class: "sim-out" });
  let charts = [];
  let results = null;
  root.append(
    h("h1", {}, "Simulations"),
    h("p", { class: "muted quiet" }, "Open a results.json written by ", h("code", {}, "cpnet simulate --out DIR"), ". It is read in this browser: nothing is uploaded."),
    h("div", { class: "filters" }, h("label", {}, "Results file ", file), h("label", {}, allBox, " all metrics")),
    out,
  );

  function clearOut() {
    charts.forEach((c) => c.destroy());
    charts = [];
    out.replaceChildren();
  }

  function load(name, text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch (e) {
      clearOut();
      results = null;
      return showError(`${name} is not valid JSON (${e.message})`);
    }
    const ok = data && Array.isArray(data.runs) && data.runs.length && data.runs.every((r) => r && typeof r.policy === "string" && r.metrics && typeof r.metrics === "object");
    if (!ok) {
      clearOut();
      results = null;
      return showError(`${name} is not a results.json of \`cpnet simulate\`: it needs a "runs" list, each with a "policy" and "metrics"`);
    }
    clearError();
    results = { name, data };
    render();
  }

  function render() {
    clearOut();
    const { name, data } = results;
    const runs = data.runs;
    const inputs = data.inputs || {};
    const numeric = [];
    for (const r of runs) for (const [k, v] of Object.entries(r.metrics)) if (typeof v === "number" && !numeric.includes(k)) numeric.push(k);
    const main = SIM_MAIN.filter((k) => numeric.includes(k));
    const keys = allBox.checked || !main.length ? numeric : main;
    const cols = keys.map((k) => ({ key: k, ...simUnit(k, runs.map((r) => r.metrics[k])) }));
    const about = [inputs.scenario, inputs.trace, inputs.jobs != null ? `${inputs.jobs} jobs` : null, inputs.seed != null ? `seed ${inputs.seed}` : null].filter((x) => x != null);
    const tbody = h("tbody");
    const tableEl = h(
      "table",
      { class: "data sim", "data-testid": "sim-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Policy"), cols.map((c) => h("th", { scope: "col", class: "num", title: c.key }, c.label.replace(/_/g, " "), c.unit ? h("small", {}, ` ${c.unit}`) : null)))),
      tbody,
    );
    syncRows(
      tbody,
      runs.map((r, i) => ({ key: String(i), head: true, data: { policy: r.policy }, cells: [{ text: r.policy, cls: "policy" }, ...cols.map((c) => (typeof r.metrics[c.key] === "number" ? { text: c.fmt(r.metrics[c.key]), cls: "num" } : null))] })),
    );
    out.append(h("p", { class: "muted" }, `${name}: ${about.join(" · ")}`), h("div", { class: "table-wrap" }, tableEl));

    const grid = h("div", { class: "chart-grid" });
    const perRun = runs.map(simSeries);
    if (perRun.some((x) => x.length)) {
      // The same axes for every policy, so the charts side by side compare at a glance.
      const first = perRun.find((x) => x.length)[0].name;
      const xMax = Math.max(...perRun.flatMap((x) => x.filter((t) => t.name === first).map((t) => t.times[t.times.length - 1] / 3600)));
      const unit = simUnit(first, []);
      const yMax = Math.max(...perRun.flatMap((x) => x.filter((t) => t.name === first).flatMap((t) => t.series.map(([, l]) => Math.max(...l.filter(Number.isFinite))))));
      out.append(h("h2", {}, first.replace(/_/g, " "), " by policy ", h("span", { class: "muted" }, unit.unit ? `(${unit.unit} over hours)` : "(over hours)")));
      runs.forEach((r, i) => {
        const ts = perRun[i].find((t) => t.name === first);
        const host = h("div", { class: "chart" });
        grid.append(h("div", { class: "card chart-card", "data-testid": "sim-chart", "data-policy": r.policy }, h("h3", {}, r.policy), ts ? host : h("p", { class: "muted" }, "no series in this run")));
        if (!ts) return;
        const c = new Chart(host, { height: 220, xTime: false, xLabel: "at", xFmt: (v) => `${fmtNum(v, 2)} h`, yFmt: unit.unit === "%" ? (v) => `${fmtNum(v * 100, 2)}%` : fmtNum });
        charts.push(c);
        requestAnimationFrame(() => c.set(ts.series.map(([k]) => k), [ts.times.map((t) => t / 3600), ...ts.series.map(([, l]) => l)], [0, xMax || 1], yMax));
      });
    } else {
      // No time series: each policy's main metrics as bars, as a share of the largest policy's value.
      out.append(h("h2", {}, "Main metrics by policy ", h("span", { class: "muted" }, "(share of the largest value among policies)")));
      const bars = cols.filter((c) => c.key !== "jobs_finished");
      const max = bars.map((c) => Math.max(...runs.map((r) => Math.abs(r.metrics[c.key] || 0))) || 1);
      runs.forEach((r) => {
        const host = h("div", { class: "chart" });
        grid.append(h("div", { class: "card chart-card", "data-testid": "sim-chart", "data-policy": r.policy }, h("h3", {}, r.policy), host));
        const c = new Chart(host, { height: 220, xTime: false, xLabel: "metric", bars: true, xFmt: (v) => (bars[v] ? bars[v].label.replace(/_/g, " ") : ""), yFmt: (v) => `${fmtNum(v * 100, 2)}%` });
        charts.push(c);
        requestAnimationFrame(() => c.set([r.policy], [bars.map((_, i) => i), bars.map((b, i) => (r.metrics[b.key] || 0) / max[i])], [-0.5, bars.length - 0.5]));
      });
    }
    out.append(grid);
  }

  file.addEventListener("change", () => {
    const f = file.files && file.files[0];
    if (!f) return;
    const reader = new FileReader();
    reader.onload = () => load(f.name, String(reader.result));
    reader.onerror = () => showError(`could not read ${f.name}: ${reader.error && reader.error.message}`);
    reader.readAsText(f);
  });
  allBox.addEventListener("change", () => results && render());
  return {
    stop() {
      clearOut();
    },
  };
}

const PAGES = { network: networkPage, queue: queuePage, job: jobPage, tenants: tenantsPage, energy: energyPage, simulations: simulationsPage };

/* ---------- start ---------- */

window.addEventListener("hashchange", route);
// A hidden tab stops polling; coming back refreshes at once.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) kick();
  else if (current) clearTimeout(current.timer);
});
$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("#token");
  const value = input.value.trim();
  if (!value) return;
  input.value = "";
  sessionStorage.setItem(TOKEN_KEY, value);
  enter();
});
if (token()) enter();
else showLogin();
