/// The HTML dashboard: one self-contained page (no external assets, nothing fetched but
/// /status and the runtime API), drawn by inline script from /status every two seconds.
/// Names are inserted with textContent, never as HTML. The charts are inline SVG drawn from
/// /status `history`, which the server samples whether or not the page is open.
extension HTTPResponse {
    static func dashboard(tokenRequired: Bool) -> HTTPResponse {
        let page = Dashboard.html.replacing("__TOKEN_REQUIRED__", with: tokenRequired ? "true" : "false")
        return HTTPResponse(.ok, contentType: "text/html; charset=utf-8", body: page, headers: [
            // Enforces "no external assets" and keeps the page's buttons out of other sites' frames.
            ("Content-Security-Policy",
             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"),
            ("X-Frame-Options", "DENY"),
        ])
    }
}

enum Dashboard {
    static let html = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bascule</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #1d232a; background: #f6f7f9; }
  h1 { font-size: 20px; margin: 0 0 .2em; }
  h2 { font-size: 16px; margin: 1.4em 0 .4em; }
  h2 small { font-weight: normal; color: #5c6670; }
  #meta { color: #5c6670; margin-bottom: .8em; }
  #error { display: none; background: #fde2e1; color: #8a1c17; padding: .5em .8em; border-radius: 4px; margin: .5em 0; }
  table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  th, td { text-align: left; padding: .3em .4em; border-bottom: 1px solid #e5e8eb; white-space: nowrap; }
  th { background: #eef0f3; font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.reason { white-space: normal; color: #3b444d; min-width: 10em; }
  td.actions { white-space: normal; min-width: 10em; }
  td.actions button, td.actions input { margin: .1em .2em .1em 0; }
  .state { display: inline-block; min-width: 4.8em; text-align: center; padding: .1em .5em; border-radius: 3px; color: #fff; font-weight: 600; }
  .state.up { background: #1f883d; }
  .state.down { background: #cf222e; }
  .state.draining { background: #bf8700; }
  .state.disabled { background: #6e7781; }
  .check { min-width: 8em; max-width: 14em; white-space: normal; }
  .sub { font-size: 11px; color: #6e7781; white-space: nowrap; }
  .sub.down { color: #cf222e; }
  .check.failed { color: #cf222e; }
  .badge { font-size: 11px; background: #ddf4ff; color: #0550ae; padding: 0 .4em; border-radius: 3px; margin-left: .4em; }
  button { font: inherit; font-size: 12px; padding: .1em .6em; margin-right: .2em; cursor: pointer; }
  input.weight { width: 4em; font: inherit; font-size: 12px; }
  #tokenbox { display: none; margin-bottom: .8em; }
  .body { display: flex; flex-wrap: wrap; gap: .8em; align-items: flex-start; }
  .tablewrap { flex: 1 1 780px; min-width: 0; overflow-x: auto; }
  .charts { flex: 0 0 252px; display: flex; flex-direction: column; gap: .6em; }
  figure.chart { margin: 0; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08); padding: .35em .5em .3em; }
  figure.chart figcaption { display: flex; justify-content: space-between; font-size: 12px; color: #5c6670; }
  figure.chart figcaption b { color: #1d232a; font-variant-numeric: tabular-nums; }
  figure.chart .span { font-size: 11px; color: #6e7781; }
  svg.spark { display: block; width: 240px; height: 56px; margin: .2em 0; }
  svg.spark .line { fill: none; stroke: #0969da; stroke-width: 1.5; stroke-linejoin: round; }
  svg.spark .area { fill: rgba(9,105,218,.13); }
  svg.spark.bytes .line { stroke: #8250df; }
  svg.spark.bytes .area { fill: rgba(130,80,223,.13); }
  svg.spark .grid { stroke: #e5e8eb; stroke-width: 1; }
  svg.spark text { font-size: 10px; fill: #6e7781; }
  td.down { color: #cf222e; }
</style>
</head>
<body>
<h1>Bascule</h1>
<div id="meta">Loading status&hellip;</div>
<div id="tokenbox">Admin token: <input id="token" type="password" size="28" autocomplete="off">
  <button id="savetoken" type="button">Save</button> <span id="tokenstate"></span></div>
<div id="error"></div>
<div id="services"><noscript>This dashboard needs JavaScript; the same data is at <a href="/status">/status</a>.</noscript></div>
<script>
"use strict";
const TOKEN_REQUIRED = __TOKEN_REQUIRED__;
const TOKEN_KEY = "bascule.adminToken";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.style.display = message ? "block" : "none";
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

// Throughput is the change in byte counters between two refreshes.
let previous = { at: 0, bytes: {} };
function rate(key, total, now) {
  const before = previous.bytes[key];
  const seconds = (now - previous.at) / 1000;
  if (before === undefined || seconds <= 0 || total < before) return "–";
  return bytes((total - before) / seconds) + "/s";
}

function duration(seconds) {
  if (seconds < 60) return (seconds < 10 && seconds > 0 ? seconds.toFixed(1) : Math.round(seconds)) + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s";
  return Math.floor(seconds / 3600) + " h " + Math.round((seconds % 3600) / 60) + " min";
}

function perSecond(n) {
  return (n >= 100 ? Math.round(n) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) + "/s";
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

// A small line chart of the last minutes, newest on the right, scaled to its own peak.
function sparkline(values, kind, label) {
  const width = 240, height = 56, top = 13, bottom = height - 1;
  const chart = svg("svg", { class: "spark " + kind, width, height, viewBox: "0 0 " + width + " " + height,
                             role: "img", "aria-label": label, "data-points": values.length });
  chart.append(svg("line", { class: "grid", x1: 0, y1: bottom, x2: width, y2: bottom }),
               svg("line", { class: "grid", x1: 0, y1: top, x2: width, y2: top }));
  if (values.length < 2) {
    const text = svg("text", { x: 4, y: 36 });
    text.textContent = "collecting samples…";
    chart.append(text);
    return chart;
  }
  const peak = Math.max(...values);
  const scale = peak > 0 ? (bottom - top) / peak : 0;
  const points = values.map((v, i) => (i * width / (values.length - 1)).toFixed(1) + "," + (bottom - v * scale).toFixed(1));
  chart.append(svg("path", { class: "area", d: "M0," + bottom + " L" + points.join(" L") + " L" + width + "," + bottom + " Z" }),
               svg("polyline", { class: "line", points: points.join(" ") }));
  const text = svg("text", { x: 3, y: 10 });
  text.textContent = "peak " + (kind === "bytes" ? bytes(peak) + "/s" : perSecond(peak));
  chart.append(text);
  return chart;
}

function chartFigure(title, values, kind, intervalSeconds) {
  const last = values.length ? values[values.length - 1] : 0;
  const now = kind === "bytes" ? bytes(last) + "/s" : perSecond(last);
  const minutes = Math.max(1, Math.round(values.length * intervalSeconds / 60));
  return el("figure", { class: "chart", "data-chart": kind },
    el("figcaption", {}, el("span", {}, title), el("b", {}, values.length ? now : "–")),
    sparkline(values, kind, title + " over the last " + minutes + " min"),
    el("div", { class: "span" }, values.length ? "last " + minutes + " min, a point every " + intervalSeconds + " s" : "no samples yet"));
}

function ago(seconds) {
  if (seconds < 60) return Math.round(seconds) + " s ago";
  if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
  return (seconds / 3600).toFixed(1) + " h ago";
}

async function act(service, backend, action, body) {
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  const path = "/services/" + encodeURIComponent(service) + "/backends/" + encodeURIComponent(backend) + "/" + action;
  try {
    const response = await fetch(path, { method: action === "weight" ? "PUT" : "POST", headers, body });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).error || detail; } catch (_) {}
      showError(action + " " + service + "/" + backend + ": " + response.status + " " + detail);
    } else {
      showError("");
    }
  } catch (err) {
    showError(action + " failed: " + err);
  }
  refresh();
}

// The active check's latest verdict (from /status healthChecks): a backend can still be up
// while its checks start failing, and that is what an operator wants to see coming.
function checkCell(check) {
  if (!check) return el("td", { class: "check" }, "no check");
  const text = check.lastResult === "ok"
    ? "ok · " + check.latencyMs.toFixed(1) + " ms"
    : check.lastResult + (check.reason ? ": " + check.reason : "");
  const cell = el("td", { class: "check " + check.lastResult }, el("div", { class: "verdict" }, text));
  if (check.checksTotal !== undefined) {
    cell.append(el("div", { class: "sub counts" + (check.failuresTotal > 0 ? " down" : "") },
      check.checksTotal + " checks · " + check.failuresTotal + " failed"));
  }
  if (check.target) cell.append(el("div", { class: "sub target" }, "checks " + check.target));
  return cell;
}

// The state, and under it what the backend's own agent says (drain, 50%, down...), which
// is often why the state is what it is.
function stateCell(b) {
  const cell = el("td", {}, el("span", { class: "state " + b.state }, b.state));
  if (b.agent) cell.append(el("div", { class: "sub agent", title: b.agent.said }, "agent: " + b.agent.word));
  return cell;
}

function downtimeCell(b) {
  const seconds = b.downtimeSeconds || 0;
  const times = b.downTransitions || 0;
  return el("td", { class: "num" + (b.state === "down" ? " down" : "") },
    duration(seconds) + (times ? " · " + times + "× down" : ""));
}

// An XDP service's connections never pass through the proxy: its traffic is what the kernel
// forwarded to each backend (client to backend only; replies go straight to the client).
function backendTraffic(b, kernel) {
  return kernel ? kernel.bytes : (b.bytesIn || 0) + (b.bytesOut || 0);
}

function backendRow(service, b, now, check, kernel) {
  const weightInput = el("input", { class: "weight", type: "number", min: "1", value: String(b.weight) });
  const name = el("td", {}, b.name);
  if (b.tier === 1) name.append(el("span", { class: "badge" }, "backup"));
  else if (b.tier > 1) name.append(el("span", { class: "badge" }, "tier " + b.tier));
  if (b.tier === service.activeTier && service.activeTier > 0) name.append(el("span", { class: "badge" }, "serving"));
  if (b.connectionsResetOnDown) name.append(el("span", { class: "badge", title: "connections reset when marked down" }, b.connectionsResetOnDown + " reset"));
  return el("tr", { "data-backend": b.name },
    name,
    el("td", {}, b.address),
    stateCell(b),
    el("td", { class: "num" }, b.activeConnections),
    el("td", { class: "num" }, b.totalConnections),
    el("td", { class: "num" }, b.connectFailures),
    el("td", { class: "num" }, kernel
        ? el("div", { class: "kernel" }, bytes(kernel.bytes) + " · " + kernel.packets + " packets")
        : el("div", {}, bytes(b.bytesIn || 0) + " / " + bytes(b.bytesOut || 0)),
      el("div", { class: "sub" }, rate(service.name + "\u0000" + b.name, backendTraffic(b, kernel), now))),
    el("td", { class: "num" }, b.effectiveWeight === b.weight ? b.weight : b.effectiveWeight + " / " + b.weight),
    checkCell(check),
    downtimeCell(b),
    el("td", { class: "reason" }, b.lastChangeReason + " (" + ago(b.secondsSinceLastChange) + ")"),
    el("td", { class: "actions" },
      button("drain", () => act(service.name, b.name, "drain")),
      button("disable", () => act(service.name, b.name, "disable")),
      button("enable", () => act(service.name, b.name, "enable")),
      weightInput,
      button("set weight", () => act(service.name, b.name, "weight", weightInput.value))));
}

function button(label, onClick) {
  const node = el("button", { type: "button" }, label);
  node.addEventListener("click", onClick);
  return node;
}

function render(status) {
  const services = status.services || [];
  const now = Date.now();
  const root = document.getElementById("services");
  const active = document.activeElement;
  // Leave the table alone while someone is typing a weight into it.
  if (active && active.classList && active.classList.contains("weight")) return;
  const kernel = (status.xdp && status.xdp.services) || {};
  const kernelBackend = (service, b) => kernel[service.name] && (kernel[service.name].backends || {})[b.name];
  const checks = {};
  for (const c of status.healthChecks || []) checks[c.service + "\u0000" + c.backend] = c;
  const history = {};
  const interval = (status.history && status.history.intervalSeconds) || 5;
  for (const h of (status.history && status.history.services) || []) history[h.name] = h;
  // Routes of addresses shared by TLS server name: each service shows the names that reach it.
  const routes = {};
  let refusedByRouting = 0;
  for (const address of status.routes || []) for (const r of address.routes) {
    if (r.service) (routes[r.service] = routes[r.service] || []).push(r.route + " (" + r.connections + ")");
    else refusedByRouting += r.connections;
  }
  root.replaceChildren(...services.map(service => el("section", { "data-service": service.name },
    el("h2", {}, service.name + " ",
      el("small", {}, service.listen + " · " + service.strategy + " · " + service.activeConnections + " active, " +
        service.totalConnections + " total" + (service.ready ? "" : " · NO ELIGIBLE BACKEND") +
        (routes[service.name] ? " · TLS routes: " + routes[service.name].join(", ") : "") +
        (kernel[service.name] ? " · XDP on " + status.xdp.interface + ": " + kernel[service.name].traffic.packets +
          " packets, " + bytes(kernel[service.name].traffic.bytes) + " forwarded" : ""))),
    el("div", { class: "body" },
      el("div", { class: "tablewrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ...["Backend", "Address", "State", "Active", "Total", "Failures",
          "In / out", "Weight", "Last check", "Downtime", "Last change", "Actions"].map(h => el("th", {}, h)))),
        el("tbody", {}, ...service.backends.map(b => backendRow(service, b, now, checks[service.name + "\u0000" + b.name], kernelBackend(service, b)))))),
      el("aside", { class: "charts" },
        chartFigure("Connections", (history[service.name] || {}).connectionsPerSecond || [], "connections", interval),
        chartFigure("Throughput", (history[service.name] || {}).bytesPerSecond || [], "bytes", interval))))));
  previous = { at: now, bytes: {} };
  for (const service of services) for (const b of service.backends)
    previous.bytes[service.name + "\u0000" + b.name] = backendTraffic(b, kernelBackend(service, b));
  document.getElementById("meta").textContent = services.length + " service(s) · " +
    (status.ready ? "ready" : "NOT READY") +
    ((status.routes || []).length ? " · " + refusedByRouting + " refused by TLS routing" : "") +
    (status.node && status.node !== "serving" ? " (" + status.node + ")" : "") + " · up " + ago(status.uptimeSeconds || 0).replace(" ago", "") +
    " · updated " + new Date().toLocaleTimeString();
}

async function refresh() {
  try {
    const response = await fetch("/status", { cache: "no-store" });
    if (!response.ok) throw new Error("/status answered " + response.status);
    render(await response.json());
  } catch (err) {
    showError("Cannot reach the admin endpoint: " + err.message);
  }
}

if (TOKEN_REQUIRED) {
  document.getElementById("tokenbox").style.display = "block";
  const input = document.getElementById("token");
  const state = document.getElementById("tokenstate");
  input.value = localStorage.getItem(TOKEN_KEY) || "";
  state.textContent = input.value ? "saved" : "needed for actions";
  document.getElementById("savetoken").addEventListener("click", () => {
    localStorage.setItem(TOKEN_KEY, input.value);
    state.textContent = "saved";
  });
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""#
}
