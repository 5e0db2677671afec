// sim2pi dashboard: polls /state.json at the configured rate and draws it. No build step.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const PX_PER_M = 95; // 2 m (the rangers' reach) fills the top view
const MOUNT_M = 0.08; // the reference robot's rangers sit on this circle
const HALF_BEAM_DEG = 7.5; // HC-SR04: a 15° cone
let periodMs = 100;
let failures = 0;

const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : "–");
// The server bounds every value (robot/dashboard/state.py); the page checks shapes again so
// that an odd record shows as "bad record", never as a broken page.
const numbers = (v) => (Array.isArray(v) ? v.slice(0, 64) : null);
const text = (v) => (typeof v === "string" ? v : null);

class BadRecord extends Error {}

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
    if (!Number.isFinite(deg) || !obs || !Number.isFinite(obs[i])) return;
    const m = Math.min(Math.max(obs[i], 0), 10);
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
  const items = (numbers(obs) || []).map((v, i) => {
    const li = document.createElement("li");
    li.dataset.channel = layout.channels[i] || String(i);
    li.textContent = `${layout.channels[i] || `obs[${i}]`}: ${fmt(v, 4)}`;
    return li;
  });
  list.replaceChildren(...items);
}

function drawQ(layout, values, chosen) {
  const box = $("q-bars");
  const q = numbers(values);
  if (!q) {
    box.replaceChildren();
    return;
  }
  const finite = q.filter(Number.isFinite);
  // A loop, not Math.min(...q): spreading a long array overflows the stack.
  const low = finite.reduce((a, b) => Math.min(a, b), 0);
  const high = finite.reduce((a, b) => Math.max(a, b), 0);
  const span = high - low || 1;
  const rows = q.map((qValue, i) => {
    const v = Number.isFinite(qValue) ? qValue : 0;
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
    value.textContent = fmt(qValue, 3);
    row.append(name, track, value);
    return row;
  });
  box.replaceChildren(...rows);
}

function drawCounts(id, counts) {
  if (typeof counts !== "object" || counts === null) throw new BadRecord(`${id}: not counts`);
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

function liveBadge(s) {
  const age = s.since_last_record_s;
  const live = $("live");
  if (s.file.error) {
    live.className = "badge bad";
    live.textContent = s.file.error;
  } else if (s.file.not_a_file) {
    live.className = "badge bad";
    live.textContent = "the telemetry path is not a regular file";
  } else if (s.records === 0) {
    live.className = "badge warn";
    live.textContent = s.file.exists ? "waiting for ticks" : "no telemetry file yet";
  } else if (age !== null && age > 2) {
    live.className = "badge warn";
    live.textContent = `no new ticks for ${age.toFixed(0)} s`;
  } else {
    live.className = "badge ok";
    live.textContent = "live";
  }
}

function render(s) {
  if (typeof s !== "object" || s === null || typeof s.layout !== "object") {
    throw new BadRecord("not a state");
  }
  const layout = s.layout;
  periodMs = 1000 / Math.min(Math.max(Number(layout.refresh_hz) || 10, 5), 30);
  liveBadge(s);
  const bad = Array.isArray(s.bad_fields) ? s.bad_fields.map(text) : [];
  for (const key of ["obs", "q"]) {
    const value = s[key];
    const odd = value !== null && (!Array.isArray(value) || value.length > 64);
    if (odd && !bad.includes(key)) bad.push(key);
  }
  $("bad-record").hidden = bad.length === 0;
  setText("bad-record", bad.length ? `bad record: ${bad.join(", ")}` : "");
  setText("tick", s.tick ?? "–");
  setText("t-s", fmt(s.t_s, 2));
  setText("bundle", layout.bundle);
  const ranged = Array.isArray(layout.ranger_deg) && layout.ranger_deg.some(Number.isFinite);
  $("topview").hidden = !ranged;
  if (ranged) drawTopView(layout, s.obs);
  drawObsList(layout, s.obs);
  const action = s.action;
  setText("action", action.index === null ? "–" : action.name ?? `action ${action.index}`);
  $("shielded").hidden = !s.shielded;
  drawQ(layout, s.q, action.index);
  const stop = s.stop.current;
  setText("stop-current", text(stop) ?? "driving");
  $("stop-current").className = stop ? "stopped" : "";
  drawCounts("stop-counts", s.stop.counts);
  setText("supervisor-current", text(s.supervisor.current) ?? "policy drives");
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
    const events = Array.isArray(s.learning.events) ? s.learning.events.map(text) : [];
    setText("learn-events", events.length ? events.join(", ") : "none");
  }
  setText("telemetry-path", layout.telemetry_path);
  setText("records", s.records);
  setText("opened", s.file.opened);
  setText("bad-lines", s.file.bad_lines);
  setText("missed", s.missed);
}

async function poll() {
  try {
    const response = await fetch("/state.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    let state;
    try {
      state = await response.json();
    } catch (error) {
      throw new BadRecord(`not JSON: ${error.message}`);
    }
    try {
      render(state);
    } catch (error) {
      throw error instanceof BadRecord ? error : new BadRecord(error.message);
    }
    failures = 0;
  } catch (error) {
    const live = $("live");
    live.className = "badge bad";
    if (error instanceof BadRecord) {
      failures = 0; // the server answers: keep asking at the page's rate
      live.textContent = `bad record (${error.message})`;
    } else {
      failures += 1;
      live.textContent = `dashboard unreachable (${error.message})`;
    }
  }
  setTimeout(poll, failures ? Math.min(2000, periodMs * failures) : periodMs);
}

poll();
