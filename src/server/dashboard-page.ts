/**
 * The class dashboard page (`/dashboard`): start a session and show its join code, open one by code, list past
 * sessions, and for one session the live group distribution (label shares of the faces in view now, over all
 * devices), mean valence per device over time, per-track valence timelines and the negative-streak alerts, updated
 * by Server-Sent Events; CSV/JSON download. Plain HTML, CSS and JavaScript served from this process (no build, no CDN;
 * no inline script, so the same-origin CSP holds). The pure helpers are exposed as `globalThis.ferkitDashboard` for tests.
 */

/** The page. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ferkit · class dashboard</title>
<link rel="stylesheet" href="/dashboard/style.css">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header>
  <h1><a href="/dashboard">ferkit class dashboard</a></h1>
  <p class="muted">Per-second aggregates from devices that chose to share them (the browser app's monitoring tab). No camera frame,
  photo or face crop reaches this server. Expressions are facial displays, not felt emotions; track numbers are not identities.</p>
</header>
<section id="auth" class="panel" hidden>
  <form id="token-form"><label>This server needs its token <input id="token" type="password" autocomplete="off"></label> <button>Use token</button></form>
</section>
<p id="error" class="error" hidden></p>
<main>
  <section id="home">
    <div class="row">
      <div class="panel"><h2>Start a session</h2>
        <form id="create-form"><input id="create-name" required maxlength="120" placeholder="e.g. Lesson 3B, Tuesday"> <button>Start</button></form>
        <p class="muted">Devices join with the code shown next: in the app, Monitoring session → Share with a class dashboard.</p></div>
      <div class="panel"><h2>Open by join code</h2>
        <form id="join-form"><input id="join-code" maxlength="12" autocomplete="off" spellcheck="false" placeholder="K7QW2M"> <button>Open</button></form></div>
    </div>
    <div class="panel"><h2>Sessions</h2>
      <table><thead><tr><th>Name</th><th>Code</th><th>Started</th><th>Ended</th><th>Devices</th><th>Seconds</th></tr></thead>
      <tbody id="sessions"><tr><td colspan="6" class="muted">loading…</td></tr></tbody></table></div>
  </section>
  <section id="session" hidden>
    <h2 id="s-name"></h2>
    <p>Join code <strong id="s-code" class="code"></strong> · <span id="s-state"></span> · <span id="s-devices"></span></p>
    <p><button id="s-end">End session</button> <button id="s-csv">Download CSV</button> <button id="s-json">Download JSON</button>
      <button id="s-delete" class="danger">Delete</button></p>
    <div class="row">
      <div class="panel"><h3 id="s-dist-title">Group now</h3><div id="s-dist" class="dist"></div><p id="s-dist-note" class="muted"></p></div>
      <div class="panel"><h3>Negative-streak alerts</h3><ul id="s-notices" class="notices"></ul></div>
    </div>
    <div class="panel"><h3>Mean valence per device <span class="muted">(valence score, −1 negative … 1 positive)</span></h3><div id="s-device-chart"></div></div>
    <div class="panel"><h3>Per-track valence</h3><div id="s-tracks"></div></div>
  </section>
</main>
</body>
</html>
`;

/** The style sheet. */
export const DASHBOARD_CSS = `
:root { color-scheme: dark; --bg: #0d1117; --panel: #161b22; --line: #30363d; --text: #e6edf3; --muted: #8b949e; }
body { margin: 0; padding: 12px 20px; background: var(--bg); color: var(--text); font: 15px/1.4 system-ui, sans-serif; }
a { color: #58a6ff; } h1 a { color: inherit; text-decoration: none; }
.muted { color: var(--muted); } .error { color: #ff7b72; } .danger { color: #ff7b72; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
.row { display: flex; gap: 12px; flex-wrap: wrap; } .row > .panel { flex: 1 1 320px; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
tbody tr { cursor: pointer; } tbody tr:hover { background: #1f242c; }
.code { font: 600 1.6em ui-monospace, monospace; letter-spacing: 0.15em; }
.dist { display: flex; height: 34px; border-radius: 6px; overflow: hidden; background: #21262d; }
.dist > div { display: flex; align-items: center; justify-content: center; font-size: 12px; color: #0d1117; overflow: hidden; white-space: nowrap; }
.notices { list-style: none; padding: 0; margin: 0; max-height: 220px; overflow: auto; }
.notices li { border-left: 3px solid #e5484d; padding: 2px 8px; margin: 4px 0; }
svg { width: 100%; height: auto; display: block; } .track-row { display: flex; align-items: center; gap: 8px; }
.track-row > span { width: 14em; flex: none; font-size: 13px; } .track-row > div { flex: 1; min-width: 0; }
button { background: #21262d; color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px; cursor: pointer; }
input { background: #0d1117; color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; }
`;

/** The script (plain ES2020; no imports). */
export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var EXPRESSIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
  var COLORS = { angry: '#e5484d', disgust: '#8e4ec6', fear: '#6e56cf', happy: '#f5b400', sad: '#3e80d8', surprise: '#f07b21', neutral: '#8b949e' };
  var PALETTE = ['#0091ff', '#e5484d', '#30a46c', '#f5b400', '#8e4ec6', '#f07b21', '#12a594', '#d6409f', '#6e56cf', '#a18072'];

  /** The group now: per device its newest second within windowMs of the newest second overall; shares weighted by faces. */
  function groupNow(group, windowMs) {
    var newest = -Infinity, last = {};
    group.forEach(function (g) { if (g.at > newest) newest = g.at; if (!last[g.device] || last[g.device].at < g.at) last[g.device] = g; });
    var totals = {}, faces = 0, devices = 0, valence = 0, valenceFaces = 0;
    Object.keys(last).forEach(function (d) {
      var g = last[d];
      if (newest - g.at > windowMs) return;
      devices++;
      faces += g.faces;
      Object.keys(g.shares).forEach(function (k) { totals[k] = (totals[k] || 0) + g.shares[k] * g.faces; });
      if (g.meanValence !== null && g.faces > 0) { valence += g.meanValence * g.faces; valenceFaces += g.faces; }
    });
    var shares = {};
    Object.keys(totals).forEach(function (k) { if (faces > 0) shares[k] = totals[k] / faces; });
    return { at: newest === -Infinity ? null : newest, devices: devices, faces: faces, shares: shares, meanValence: valenceFaces ? valence / valenceFaces : null };
  }

  /** Series of mean valence per device: { device: [[at, value|null], …] } sorted by time. */
  function seriesByDevice(group) {
    var out = {};
    group.forEach(function (g) { (out[g.device] = out[g.device] || []).push([g.at, g.meanValence]); });
    Object.keys(out).forEach(function (k) { out[k].sort(function (a, b) { return a[0] - b[0]; }); });
    return out;
  }

  /** Series of valence score per device and track: { 'device#track': [[at, value, label], …] }. */
  function seriesByTrack(tracks) {
    var out = {};
    tracks.forEach(function (t) { var k = t.device + '#' + t.trackId; (out[k] = out[k] || []).push([t.at, t.valenceScore, t.label]); });
    Object.keys(out).forEach(function (k) { out[k].sort(function (a, b) { return a[0] - b[0]; }); });
    return out;
  }

  /** Splits a Server-Sent Events buffer into complete messages and the unfinished rest. */
  function parseSse(buffer) {
    var events = [], parts = buffer.split('\n\n'), rest = parts.pop();
    parts.forEach(function (block) {
      var ev = 'message', data = [];
      block.split('\n').forEach(function (line) {
        if (line.indexOf('event: ') === 0) ev = line.slice(7);
        else if (line.indexOf('data: ') === 0) data.push(line.slice(6));
      });
      if (data.length) events.push({ event: ev, data: JSON.parse(data.join('\n')) });
    });
    return { events: events, rest: rest };
  }

  globalThis.ferkitDashboard = { groupNow: groupNow, seriesByDevice: seriesByDevice, seriesByTrack: seriesByTrack, parseSse: parseSse };
  if (typeof document === 'undefined') return;

  // ---------------------------------------------------------------- page
  var $ = function (id) { return document.getElementById(id); };
  var NS = 'http://www.w3.org/2000/svg';
  var state = null, renderTimer = null, streamAbort = null;

  function token() { try { return sessionStorage.getItem('ferkit.token') || ''; } catch (e) { return ''; } }
  function headers(json) {
    var h = {};
    if (json) h['content-type'] = 'application/json';
    if (token()) h.authorization = 'Bearer ' + token();
    return h;
  }
  function showError(msg) { var e = $('error'); e.textContent = msg || ''; e.hidden = !msg; }
  async function api(path, init) {
    init = init || {};
    var res = await fetch(path, { method: init.method || 'GET', headers: headers(!!init.body), body: init.body ? JSON.stringify(init.body) : undefined });
    if (res.status === 401) { $('auth').hidden = false; throw new Error('this server needs its token'); }
    if (!res.ok) {
      var p = null; try { p = await res.json(); } catch (e) { /* not JSON */ }
      throw new Error(p && p.detail ? p.detail : 'the server answered ' + res.status);
    }
    return res.status === 204 ? null : res;
  }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
  function svgEl(tag, attrs) { var e = document.createElementNS(NS, tag); Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); }); return e; }
  function time(ms) { return ms === null || ms === undefined ? '–' : new Date(ms).toLocaleString(); }

  async function download(path, name) {
    try {
      var res = await api(path);
      var url = URL.createObjectURL(await res.blob());
      var a = el('a'); a.href = url; a.download = name; document.body.append(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    } catch (e) { showError(e.message); }
  }

  async function listSessions() {
    var body = $('sessions');
    try {
      var data = await (await api('/v1/sessions?limit=200')).json();
      body.replaceChildren();
      if (!data.sessions.length) { var tr0 = el('tr'); var td = el('td', 'No sessions yet.', 'muted'); td.colSpan = 6; tr0.append(td); body.append(tr0); }
      data.sessions.forEach(function (s) {
        var tr = el('tr');
        [s.name, s.code, time(Date.parse(s.startedAt)), s.endedAt ? time(Date.parse(s.endedAt)) : 'running', String(s.devices), String(s.samples)]
          .forEach(function (t) { tr.append(el('td', t)); });
        tr.addEventListener('click', function () { location.search = '?session=' + encodeURIComponent(s.id); });
        body.append(tr);
      });
    } catch (e) { showError(e.message); }
  }

  function lineChart(container, seriesList, opts) {
    var W = 900, H = opts.height || 160, L = 34, R = 8, T = 8, B = 20;
    var t0 = Infinity, t1 = -Infinity;
    seriesList.forEach(function (s) { s.points.forEach(function (p) { if (p[0] < t0) t0 = p[0]; if (p[0] > t1) t1 = p[0]; }); });
    var svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': opts.label || 'chart' });
    if (!(t1 >= t0)) { container.replaceChildren(el('p', 'No data yet.', 'muted')); return; }
    if (t1 === t0) t1 = t0 + 1000;
    var x = function (t) { return L + (W - L - R) * (t - t0) / (t1 - t0); };
    var y = function (v) { return T + (H - T - B) * (1 - (v + 1) / 2); };
    [-1, 0, 1].forEach(function (v) {
      svg.append(svgEl('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#30363d' }));
      var tx = svgEl('text', { x: 2, y: y(v) + 4, fill: '#8b949e', 'font-size': 11 }); tx.textContent = String(v); svg.append(tx);
    });
    var lab = svgEl('text', { x: L, y: H - 4, fill: '#8b949e', 'font-size': 11 }); lab.textContent = new Date(t0).toLocaleTimeString(); svg.append(lab);
    var lab2 = svgEl('text', { x: W - R, y: H - 4, fill: '#8b949e', 'font-size': 11, 'text-anchor': 'end' }); lab2.textContent = new Date(t1).toLocaleTimeString(); svg.append(lab2);
    seriesList.forEach(function (s) {
      var d = '', pen = false, prev = null;
      s.points.forEach(function (p) {
        if (p[1] === null || (prev !== null && p[0] - prev > 5000)) { pen = false; }
        if (p[1] !== null) { d += (pen ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1) + ' '; pen = true; }
        prev = p[0];
      });
      if (d) svg.append(svgEl('path', { d: d, fill: 'none', stroke: s.color, 'stroke-width': s.width || 1.5 }));
      if (s.labels) s.points.forEach(function (p) { if (p[1] !== null) svg.append(svgEl('circle', { cx: x(p[0]), cy: y(p[1]), r: 1.8, fill: COLORS[p[2]] || '#8b949e' })); });
    });
    container.replaceChildren(svg);
  }

  function render() {
    renderTimer = null;
    if (!state) return;
    var s = state.session;
    $('s-name').textContent = s.name;
    $('s-code').textContent = s.code;
    $('s-state').textContent = s.endedAt ? 'ended ' + time(Date.parse(s.endedAt)) : 'running since ' + time(Date.parse(s.startedAt)) + (state.live ? ' · live' : '');
    $('s-devices').textContent = Object.keys(state.devices).length + ' device(s)';
    $('s-end').hidden = !!s.endedAt;
    $('s-dist-title').textContent = s.endedAt ? 'Group at the end' : 'Group now';
    var now = groupNow(state.group, 10000);
    var dist = $('s-dist'); dist.replaceChildren();
    EXPRESSIONS.forEach(function (e) {
      var v = now.shares[e] || 0;
      if (v <= 0) return;
      var d = el('div', v >= 0.08 ? e + ' ' + Math.round(v * 100) + '%' : '');
      d.style.width = (v * 100) + '%'; d.style.background = COLORS[e]; d.title = e + ' ' + Math.round(v * 100) + '%';
      dist.append(d);
    });
    $('s-dist-note').textContent = now.at === null ? 'No aggregates yet.' : now.faces + ' face(s) on ' + now.devices + ' device(s) at ' + new Date(now.at).toLocaleTimeString()
      + (now.meanValence === null ? '' : ' · mean valence ' + (Math.abs(now.meanValence) < 0.005 ? 0 : now.meanValence).toFixed(2));
    var byDev = seriesByDevice(state.group);
    lineChart($('s-device-chart'), Object.keys(byDev).map(function (d, i) { return { points: byDev[d], color: PALETTE[i % PALETTE.length], width: 2 }; }), { label: 'mean valence per device' });
    var byTrack = seriesByTrack(state.tracks), tracksEl = $('s-tracks'); tracksEl.replaceChildren();
    Object.keys(byTrack).sort().forEach(function (k, i) {
      var parts = k.split('#'), row = el('div', undefined, 'track-row'), box = el('div');
      row.append(el('span', (state.devices[parts[0]] || parts[0]) + ' · person ' + parts[1]), box);
      tracksEl.append(row);
      lineChart(box, [{ points: byTrack[k], color: PALETTE[i % PALETTE.length], labels: true }], { height: 70, label: 'valence of ' + k });
    });
    if (!Object.keys(byTrack).length) tracksEl.replaceChildren(el('p', 'No tracks yet.', 'muted'));
    var ul = $('s-notices'); ul.replaceChildren();
    state.notices.slice().reverse().forEach(function (n) {
      ul.append(el('li', new Date(n.at).toLocaleTimeString() + ' · ' + (state.devices[n.device] || n.device) + ' · ' + n.message));
    });
    if (!state.notices.length) ul.append(el('li', 'None.', 'muted'));
  }
  function schedule() { if (!renderTimer) renderTimer = setTimeout(render, 500); }

  async function follow(id) {
    streamAbort = new AbortController();
    for (;;) {
      try {
        var res = await fetch('/v1/sessions/' + id + '/events', { headers: headers(false), signal: streamAbort.signal });
        if (!res.ok || !res.body) throw new Error('events: ' + res.status);
        state.live = true; schedule();
        var reader = res.body.pipeThrough(new TextDecoderStream()).getReader(), buf = '';
        for (;;) {
          var r = await reader.read();
          if (r.done) break;
          var parsed = parseSse(buf + r.value); buf = parsed.rest;
          parsed.events.forEach(function (ev) {
            if (ev.event === 'aggregates') {
              var dev = ev.data.device.key;
              if (ev.data.device.label) state.devices[dev] = ev.data.device.label; else if (!state.devices[dev]) state.devices[dev] = dev;
              ev.data.samples.forEach(function (s) {
                state.group = state.group.filter(function (g) { return !(g.device === dev && g.at === s.at); });
                state.group.push({ device: dev, at: s.at, faces: s.faces, shares: s.shares, meanValence: s.meanValence });
                (s.tracks || []).forEach(function (t) { state.tracks.push({ device: dev, at: s.at, trackId: t.trackId, label: t.label, valenceScore: t.valenceScore }); });
              });
              (ev.data.notices || []).forEach(function (n) { state.notices.push({ device: dev, at: n.at, trackId: n.trackId, message: n.message }); });
            } else if (ev.event === 'ended') {
              state.session = ev.data;
            }
          });
          schedule();
        }
      } catch (e) {
        if (streamAbort.signal.aborted) return;
      }
      state.live = false; schedule();
      if (state.session.endedAt) return;
      await new Promise(function (r) { setTimeout(r, 3000); });
    }
  }

  async function openSession(id) {
    $('home').hidden = true; $('session').hidden = false;
    try {
      var dump = await (await api('/v1/sessions/' + encodeURIComponent(id) + '/export.json')).json();
      var devices = {};
      dump.devices.forEach(function (d) { devices[d.key] = d.label; });
      state = { session: dump.session, devices: devices, group: dump.group, tracks: dump.tracks, notices: dump.notices, live: false };
      document.title = dump.session.name + ' · ferkit dashboard';
      render();
      if (!dump.session.endedAt) follow(dump.session.id);
    } catch (e) { showError(e.message); }
  }

  function main() {
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      try { sessionStorage.setItem('ferkit.token', $('token').value); } catch (e) { /* private mode */ }
      location.reload();
    });
    $('create-form').addEventListener('submit', async function (ev) {
      ev.preventDefault();
      try {
        var s = await (await api('/v1/sessions', { method: 'POST', body: { name: $('create-name').value } })).json();
        location.search = '?session=' + encodeURIComponent(s.id);
      } catch (e) { showError(e.message); }
    });
    $('join-form').addEventListener('submit', async function (ev) {
      ev.preventDefault();
      try {
        var s = await (await api('/v1/join/' + encodeURIComponent($('join-code').value.trim()))).json();
        location.search = '?session=' + encodeURIComponent(s.id);
      } catch (e) { showError(e.message); }
    });
    $('s-end').addEventListener('click', async function () {
      try { state.session = await (await api('/v1/sessions/' + state.session.id + '/end', { method: 'POST' })).json(); render(); } catch (e) { showError(e.message); }
    });
    $('s-delete').addEventListener('click', async function () {
      if (!confirm('Delete this session and all its aggregates?')) return;
      try { if (streamAbort) streamAbort.abort(); await api('/v1/sessions/' + state.session.id, { method: 'DELETE' }); location.search = ''; } catch (e) { showError(e.message); }
    });
    $('s-csv').addEventListener('click', function () { download('/v1/sessions/' + state.session.id + '/export.csv', 'session-' + state.session.code + '.csv'); });
    $('s-json').addEventListener('click', function () { download('/v1/sessions/' + state.session.id + '/export.json', 'session-' + state.session.code + '.json'); });
    var id = new URLSearchParams(location.search).get('session');
    if (id) openSession(id); else listSessions();
  }
  main();
})();
`;
