// sim2pi dashboard: polls /state.json at the configured rate and draws it. No build step.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const PX_PER_M = 95; // 2 m (the rangers' reach) fills the top view
const MOUNT_M = 0.08; // the reference robot's rangers sit on this circle
const HALF_BEAM_DEG = 7.5; // HC-SR04: a 15° cone
let periodMs = 100;
let failures = 0;

const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== String(text)) el.textContent = text;
}

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function point(deg, m) {
  const a = (deg * Math.PI) / 180; // counter-clockwise from straight ahead (up)
  return [-Math.sin(a) * m * PX_PER_M, -Math.cos(a) * m * PX_PER_M];
}

function drawTopView(layout, obs) {
  const svg = $("topview");
  svg.replaceChildren();
  for (const ring of [0.5, 1, 1.5, 2]) {
    svg.append(svgEl("circle", { class: "ring", cx: 0, cy: 0, r: ring * PX_PER_M }));
  }
  layout.ranger_deg.forEach((deg, i) => {
    if (deg === null || !obs || obs[i] === null || obs[i] === undefined) return;
    const m = Number(obs[i]);
    const [mx, my] = point(deg, MOUNT_M);
    const [ax, ay] = point(deg + HALF_BEAM_DEG, MOUNT_M + m);
    const [bx, by] = point(deg - HALF_BEAM_DEG, MOUNT_M + m);
    const beam = svgEl("polygon", {
      class: m < 0.3 ? "beam near" : "beam",
      points: `${mx},${my} ${ax},${ay} ${bx},${by}`,
      "data-channel": layout.channels[i],
    });
    svg.append(beam);
    const [tx, ty] = point(deg, MOUNT_M + m + 0.12);
    const label = svgEl("text", { x: tx, y: ty, "text-anchor": "middle", id: `range-${i}` });
    label.textContent = `${m.toFixed(2)} m`;
    svg.append(label);
  });
  svg.append(svgEl("rect", { class: "body", x: -9, y: -9, width: 18, height: 20, rx: 4 }));
  svg.append(svgEl("polygon", { class: "body", points: "-6,-9 6,-9 0,-16" }));
}

function drawObsList(layout, obs) {
  const list = $("obs-list");
  const items = (obs || []).map((v, i) => {
    const li = document.createElement("li");
    li.dataset.channel = layout.channels[i] || String(i);
    li.textContent = `${layout.channels[i] || `obs[${i}]`}: ${fmt(v, 4)}`;
    return li;
  });
  list.replaceChildren(...items);
}

function drawQ(layout, q, chosen) {
  const box = $("q-bars");
  if (!q) {
    box.replaceChildren();
    return;
  }
  const low = Math.min(0, ...q);
  const high = Math.max(0, ...q);
  const span = high - low || 1;
  const rows = q.map((v, i) => {
    const row = document.createElement("div");
    row.className = i === chosen ? "bar chosen" : "bar";
    row.dataset.action = i;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = layout.actions[i] || `action ${i}`;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    const zero = (-low / span) * 100;
    const end = ((v - low) / span) * 100;
    fill.style.left = `${Math.min(zero, end)}%`;
    fill.style.width = `${Math.abs(end - zero)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "q-value";
    value.textContent = fmt(v, 3);
    row.append(name, track, value);
    return row;
  });
  box.replaceChildren(...rows);
}

function drawCounts(id, counts) {
  const items = Object.entries(counts).map(([reason, n]) => {
    const li = document.createElement("li");
    li.dataset.reason = reason;
    li.textContent = `${reason} ×${n}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "dim";
    li.textContent = "none";
    items.push(li);
  }
  $(id).replaceChildren(...items);
}

function render(s) {
  const layout = s.layout;
  periodMs = 1000 / layout.refresh_hz;
  const age = s.since_last_record_s;
  const live = $("live");
  if (s.records === 0) {
    live.className = "badge warn";
    live.textContent = s.file.exists ? "waiting for ticks" : "no telemetry file yet";
  } else if (age !== null && age > 2) {
    live.className = "badge warn";
    live.textContent = `no new ticks for ${age.toFixed(0)} s`;
  } else {
    live.className = "badge ok";
    live.textContent = "live";
  }
  setText("tick", s.tick ?? "–");
  setText("t-s", fmt(s.t_s, 2));
  setText("bundle", layout.bundle);
  const ranged = layout.ranger_deg.some((d) => d !== null);
  $("topview").hidden = !ranged;
  if (ranged) drawTopView(layout, s.obs);
  drawObsList(layout, s.obs);
  const action = s.action;
  setText("action", action.index === null ? "–" : action.name ?? `action ${action.index}`);
  $("shielded").hidden = !s.shielded;
  drawQ(layout, s.q, action.index);
  const stop = s.stop.current;
  setText("stop-current", stop ?? "driving");
  $("stop-current").className = stop ? "stopped" : "";
  drawCounts("stop-counts", s.stop.counts);
  setText("supervisor-current", s.supervisor.current ?? "policy drives");
  drawCounts("supervisor-counts", s.supervisor.counts);
  const h = s.health;
  setText("rate", fmt(h.rate_hz, 1));
  setText("late-p50", fmt(h.late_p50_us, 0));
  setText("late-max", fmt(h.late_max_us, 0));
  setText("overruns-window", h.overruns_window);
  setText("overruns-total", h.overruns_total);
  setText("compute", fmt(h.compute_us, 0));
  setText("restarts", s.restarts);
  $("learning").hidden = !s.learning;
  if (s.learning) {
    setText("epsilon", fmt(s.learning.epsilon, 4));
    setText("updates", s.learning.updates);
    setText("td-error", fmt(s.learning.td_error, 4));
    setText("reward", fmt(s.learning.reward, 4));
  }
  setText("telemetry-path", layout.telemetry_path);
  setText("records", s.records);
  setText("opened", s.file.opened);
}

async function poll() {
  try {
    const response = await fetch("/state.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    failures = 0;
  } catch (error) {
    failures += 1;
    const live = $("live");
    live.className = "badge bad";
    live.textContent = `dashboard unreachable (${error.message})`;
  }
  setTimeout(poll, failures ? Math.min(2000, periodMs * failures) : periodMs);
}

poll();
