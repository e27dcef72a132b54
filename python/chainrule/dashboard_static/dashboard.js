// chainrule dashboard: draws a run's JSON (chainrule/dashboard_views.py) with plotly.js.
// Served by dashboard_server.py (polls api/run and api/frame with the URL's token) or inlined
// by report.py (window.CHAINRULE_REPORT holds the run and its frames; no network access).
(function () {
  "use strict";
  var FORMAT = 1;
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var report = window.CHAINRULE_REPORT || null;
  var state = { run: null, version: -1, epochs: [], index: 0, follow: true, row: 0,
                frameKey: null, frame: null, busy: false, layer: 0, diagKey: null };
  var $ = function (id) { return document.getElementById(id); };
  var config = { displaylogo: false, responsive: true };
  var margin = { l: 50, r: 10, t: 10, b: 35 };

  function api(path) {
    return fetch(path + (path.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(token),
                 { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(path + ": HTTP " + r.status); }
      return r.json();
    });
  }
  var source = report ? {
    run: function () { return Promise.resolve(report.run); },
    frame: function (epoch, row) {
      var frames = report.frames, best = null;
      for (var i = 0; i < frames.length; i++) {
        var f = frames[i];
        if (f.epoch === epoch && (!f.derivation || f.derivation.row === row)) { return Promise.resolve(f); }
        if (f.epoch === epoch && best === null) { best = f; }
      }
      return Promise.resolve(best || frames[frames.length - 1] || null);
    }
  } : {
    run: function () {
      return api("api/run" + (state.run ? "?version=" + encodeURIComponent(state.version) : ""))
        .then(function (run) { return run.unchanged ? state.run : run; });
    },
    frame: function (epoch, row) { return api("api/frame?epoch=" + epoch + "&row=" + row); }
  };

  function fmt(v) {
    if (v === null || v === undefined) { return "-"; }
    if (typeof v !== "number") { return String(v); }
    var a = Math.abs(v);
    return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? v.toExponential(3) : v.toPrecision(4);
  }
  function range(n) { var r = []; for (var i = 1; i <= n; i++) { r.push(i); } return r; }

  // ---- the run: curves, header, diagnostics ------------------------------------------------
  function drawRun(run) {
    var h = run.history || {}, meta = run.meta || {};
    // the epochs of the points (while training runs, not every epoch has one)
    function xs(n) { var e = run.history_epochs; return e && e.length === n ? e : range(n); }
    // a fit that raised: "stopped by KeyboardInterrupt" (the exception's type)
    $("status").textContent = run.status + (run.stopped_by ? " by " + run.stopped_by : "");
    $("status").className = "badge " + run.status;
    $("epochs-done").textContent = run.epochs_done;
    $("planned").textContent = meta.planned_epochs ? " / " + meta.planned_epochs : "";
    var loss = h.loss || [];
    var last = loss.length ? loss[loss.length - 1] : null;
    $("last-loss").textContent = fmt(last);
    $("last-loss").setAttribute("data-value", last === null ? "" : String(last));
    if (meta.layer_sizes) {
      $("network-summary").textContent = meta.layer_sizes.join("-") + ", " + meta.n_params +
        " parameters, loss " + meta.loss;
    }
    var positive = loss.every(function (v) { return v > 0; });
    var traces = ["loss", "val_loss"].filter(function (k) { return h[k]; }).map(function (k) {
      return { x: xs(h[k].length), y: h[k], name: k, mode: "lines" };
    });
    Plotly.react("curves", traces, { margin: margin, xaxis: { title: "epoch" },
      yaxis: { type: positive && loss.length ? "log" : "linear" }, legend: { orientation: "h" } }, config);
    var others = Object.keys(h).filter(function (k) { return k !== "loss" && k !== "val_loss"; });
    Plotly.react("metrics", others.map(function (k) {
      return { x: xs(h[k].length), y: h[k], name: k, mode: "lines", yaxis: k === "lr" ? "y2" : "y" };
    }), { margin: { l: 50, r: 50, t: 10, b: 35 }, xaxis: { title: "epoch" }, legend: { orientation: "h" },
          yaxis2: { overlaying: "y", side: "right", title: "lr", showgrid: false } }, config);
    drawDiagnostics(run.diagnostics || [], meta);
    $("follow-label").hidden = !run.live;
    var slider = $("epoch-slider");
    state.epochs = run.epochs || [];
    slider.max = Math.max(0, state.epochs.length - 1);
    if (state.follow) { state.index = Math.max(0, state.epochs.length - 1); }
    slider.value = state.index;
  }

  function drawDiagnostics(records, meta) {
    var select = $("diag-key");
    $("diag-plots").hidden = !records.length;
    if (!records.length) {
      $("diag-note").textContent = "No diagnostics recorded: fit(..., diagnostics=True) records them.";
      return;
    }
    $("diag-note").textContent = records.length + " records; the histograms are the newest record's.";
    var keys = Object.keys(records[0].layers[0] || {}).filter(function (k) {
      return k !== "layer" && k !== "kind" && k !== "activation" && k !== "histograms";
    });
    if (select.options.length !== keys.length) {
      select.innerHTML = keys.map(function (k) { return "<option>" + k + "</option>"; }).join("");
      state.diagKey = keys.indexOf("update_ratio") >= 0 ? "update_ratio" : keys[0];
      select.value = state.diagKey;
    }
    var key = state.diagKey, layers = {};
    records.forEach(function (rec) {
      rec.layers.forEach(function (L) {
        var t = layers[L.layer] || (layers[L.layer] = { x: [], y: [], mode: "lines",
          name: "layer " + L.layer + (L.activation ? " (" + L.activation + ")" : "") });
        t.x.push(rec.epoch + 1); t.y.push(L[key]);
      });
    });
    var traces = Object.keys(layers).map(function (k) { return layers[k]; });
    Plotly.react("diagnostics", traces, { margin: margin, xaxis: { title: "epoch" },
      yaxis: { title: key, type: key === "update_ratio" ? "log" : "linear" }, legend: { orientation: "h" } }, config);
    var newest = records[records.length - 1], hist = [];
    newest.layers.forEach(function (L) {
      if (!L.histograms || L.layer !== state.layer + 1) { return; }
      Object.keys(L.histograms).forEach(function (name) {
        var e = L.histograms[name].edges, c = L.histograms[name].counts;
        hist.push({ type: "bar", name: name + " layer " + L.layer, opacity: 0.6,
                    x: c.map(function (_, i) { return (e[i] + e[i + 1]) / 2; }), y: c });
      });
    });
    Plotly.react("histograms", hist, { margin: margin, barmode: "overlay", legend: { orientation: "h" } }, config);
  }

  // ---- one frame: network, derivation, heatmaps, surface -----------------------------------
  function color(v, scale) {
    if (v === null || v === undefined) { return "#ccc"; }
    var t = Math.max(-1, Math.min(1, v / (scale || 1)));
    // Playground's palette: orange for negative, blue for positive
    var r = t < 0 ? 245 : Math.round(245 - 190 * t), g = t < 0 ? Math.round(245 + 100 * t) : Math.round(245 - 110 * t),
        b = t < 0 ? Math.round(245 + 200 * t) : 235;
    return "rgb(" + r + "," + g + "," + b + ")";
  }
  function maxAbs(a) { return (a || []).reduce(function (m, v) { return Math.max(m, Math.abs(v || 0)); }, 0) || 1; }

  function drawNetwork(meta, frame) {
    var svgNS = "http://www.w3.org/2000/svg", box = $("network");
    var layers = meta.layers || [], cols = [{ n: meta.layer_sizes ? meta.layer_sizes[0] : 0, label: "input",
      values: frame && frame.derivation ? frame.derivation.x : null }];
    layers.forEach(function (L, i) {
      var d = frame && frame.derivation ? frame.derivation.layers[i] : null;
      cols.push({ n: L.n_out, label: L.kind + " " + L.n_out + (L.activation ? " " + L.activation : ""),
                  values: d && d.H ? d.H : null, layer: L.layer });
    });
    var W = 1000, H = 280, cap = 12, svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var pos = cols.map(function (c, i) {
      var shown = Math.min(c.n, cap), x = 60 + i * (W - 120) / Math.max(1, cols.length - 1);
      return range(shown).map(function (j) { return [x, 25 + (j - 0.5) * (H - 60) / shown]; });
    });
    var heat = frame ? frame.heatmaps || [] : [];
    for (var i = 1; i < cols.length; i++) {
      var hm = heat.filter(function (m) { return m.layer === cols[i].layer; })[0];
      if (!hm || hm.shape[0] !== cols[i - 1].n || hm.shape[0] > cap || hm.shape[1] > cap) { continue; }
      var s = maxAbs([].concat.apply([], hm.W));
      pos[i - 1].forEach(function (p, a) {
        pos[i].forEach(function (q, b) {
          var line = document.createElementNS(svgNS, "line"), w = hm.W[a][b];
          line.setAttribute("x1", p[0]); line.setAttribute("y1", p[1]);
          line.setAttribute("x2", q[0]); line.setAttribute("y2", q[1]);
          line.setAttribute("stroke", color(w, s)); line.setAttribute("stroke-width", 0.5 + 3 * Math.abs(w) / s);
          svg.appendChild(line);
        });
      });
    }
    cols.forEach(function (c, i) {
      var s = maxAbs(c.values);
      pos[i].forEach(function (p, j) {
        var node = document.createElementNS(svgNS, "circle");
        node.setAttribute("cx", p[0]); node.setAttribute("cy", p[1]); node.setAttribute("r", 7);
        node.setAttribute("fill", color(c.values ? c.values[j] : null, s)); node.setAttribute("stroke", "#555");
        var tip = document.createElementNS(svgNS, "title");
        tip.textContent = c.label + " unit " + (j + 1) + (c.values ? ": " + fmt(c.values[j]) : "");
        node.appendChild(tip); svg.appendChild(node);
      });
      var text = document.createElementNS(svgNS, "text");
      text.setAttribute("x", pos[i].length ? pos[i][0][0] : 0); text.setAttribute("y", H - 8);
      text.setAttribute("text-anchor", "middle"); text.setAttribute("font-size", "13");
      text.textContent = c.label + (c.n > cap ? " (" + cap + " of " + c.n + " shown)" : "");
      svg.appendChild(text);
    });
    box.innerHTML = ""; box.appendChild(svg);
  }

  function cells(values) {
    if (!values) { return "<td colspan='12' class='hint'>-</td>"; }
    var s = maxAbs(values), shown = values.slice(0, 12).map(function (v) {
      return "<td class='v' data-v='" + v + "' style='background:" + color(v, s) + "'>" + fmt(v) + "</td>";
    }).join("");
    return shown + (values.length > 12 ? "<td class='hint'>+" + (values.length - 12) + " more</td>" : "");
  }
  function drawDerivation(frame) {
    var d = frame ? frame.derivation : null, box = $("derivation");
    if (!d) { box.innerHTML = "<p class='hint'>No training rows to derive.</p>"; return; }
    var rows = ["<tr><th>x (row " + d.row + ")</th><td></td>" + cells(d.x) + "</tr>"];
    d.layers.forEach(function (L) {
      var what = "layer " + L.layer + " " + L.kind + (L.activation ? " " + L.activation : "");
      ["Z", "H", "dZ"].forEach(function (k) {
        if (L[k]) { rows.push("<tr data-layer='" + L.layer + "' data-q='" + k + "'><th>" + what + "</th><th>" + k +
                              "</th>" + cells(L[k]) + "</tr>"); what = ""; }
      });
    });
    rows.push("<tr><th>y (target)</th><td></td>" + cells(d.y) + "</tr>");
    box.innerHTML = "<table class='deriv'>" + rows.join("") + "</table>";
  }

  function drawHeatmaps(frame) {
    var maps = frame ? frame.heatmaps || [] : [], select = $("heat-layer");
    var labels = maps.map(function (m) { return "layer " + m.layer + " (" + m.shape.join(" x ") + ")"; });
    if (select.options.length !== labels.length) {
      select.innerHTML = labels.map(function (t, i) { return "<option value='" + i + "'>" + t + "</option>"; }).join("");
      select.value = Math.min(state.layer, Math.max(0, labels.length - 1));
    }
    var m = maps[Number(select.value) || 0];
    if (!m) { return; }
    $("heat-note").textContent = (m.shown[0] < m.shape[0] || m.shown[1] < m.shape[1]) ?
      "showing " + m.shown.join(" x ") + " evenly spaced entries of " + m.shape.join(" x ") : "";
    [["heat-W", m.W, "W" + m.layer], ["heat-dW", m.dW, "dW" + m.layer]].forEach(function (p) {
      Plotly.react(p[0], p[1] ? [{ type: "heatmap", z: p[1], colorscale: "RdBu", zmid: 0, reversescale: true }] : [],
        { margin: margin, title: { text: p[2], font: { size: 12 } }, yaxis: { autorange: "reversed", title: "from unit" },
          xaxis: { title: "to unit" } }, config);
    });
  }

  function drawSurface(frame) {
    var s = frame ? frame.surface : null;
    $("surface-card").hidden = !s;
    if (!s) { return; }
    var discrete = s.kind === "class";
    Plotly.react("surface", [
      { type: "heatmap", x: s.x, y: s.y, z: s.z, colorscale: "RdBu", reversescale: true, opacity: 0.75,
        zsmooth: discrete ? false : "best", showscale: !discrete, name: "prediction" },
      { type: "scatter", mode: "markers", x: s.points.x, y: s.points.y, name: "rows",
        marker: { color: s.points.label, colorscale: "RdBu", reversescale: true, size: 6, line: { width: 1, color: "#fff" } } }
    ], { margin: margin, showlegend: false }, config);
  }

  function drawFrame(frame) {
    state.frame = frame;
    $("frame-epoch").textContent = frame && frame.epoch !== null ? frame.epoch : "-";
    $("frame-loss").textContent = frame && frame.loss !== null ? "loss on the kept rows " + fmt(frame.loss) : "";
    drawNetwork(state.run.meta || {}, frame);
    drawDerivation(frame);
    drawHeatmaps(frame);
    drawSurface(frame);
    document.body.setAttribute("data-frame-epoch", frame && frame.epoch !== null ? frame.epoch : "");
  }

  // ---- the loop: poll (live), or draw once (replay, report) --------------------------------
  function refreshFrame() {
    if (!state.epochs.length || state.busy) { return Promise.resolve(); }
    var epoch = state.epochs[Math.min(state.index, state.epochs.length - 1)];
    var key = epoch + ":" + state.row;
    if (key === state.frameKey) { return Promise.resolve(); }
    state.busy = true;
    return source.frame(epoch, state.row).then(function (f) {
      // the live server may answer with an older frame while it is throttled: ask again
      state.frameKey = f && f.epoch !== null ? f.epoch + ":" + state.row : null; drawFrame(f);
    }).finally(function () { state.busy = false; });
  }
  function tick() {
    return source.run().then(function (run) {
      if (run.format !== FORMAT) { throw new Error("this page reads format " + FORMAT + ", got " + run.format); }
      if (run.version !== state.version) {
        state.run = run; state.version = run.version; drawRun(run);
        document.body.setAttribute("data-version", run.version);
      }
      return refreshFrame().then(function () { return run; });
    });
  }
  function loop() {
    tick().then(function (run) {
      if (run.live && run.status !== "finished" && run.status !== "stopped") { setTimeout(loop, 700); }
      else if (run.live) { setTimeout(loop, 3000); }  // a finished or stopped live run: rarely
    }).catch(function (err) {
      $("status").textContent = "disconnected"; $("status").className = "badge";
      console.error(err); if (!report) { setTimeout(loop, 2000); }
    });
  }
  function step(delta) {
    state.follow = false; $("follow").checked = false;
    state.index = Math.max(0, Math.min(state.epochs.length - 1, state.index + delta));
    $("epoch-slider").value = state.index; refreshFrame();
  }
  $("prev").onclick = function () { step(-1); };
  $("next").onclick = function () { step(1); };
  $("epoch-slider").oninput = function () { step(Number(this.value) - state.index); };
  $("follow").onchange = function () { state.follow = this.checked; if (state.follow) { step(1e9); state.follow = true; $("follow").checked = true; } };
  $("row").onchange = function () { state.row = Math.max(0, Number(this.value) || 0); refreshFrame(); };
  $("heat-layer").onchange = function () {
    state.layer = Number(this.value); drawHeatmaps(state.frame);
    if (state.run) { drawDiagnostics(state.run.diagnostics || [], state.run.meta || {}); }
  };
  $("diag-key").onchange = function () { state.diagKey = this.value; drawDiagnostics(state.run.diagnostics || [], state.run.meta || {}); };
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") { return; }
    if (e.key === "ArrowLeft") { step(-1); } else if (e.key === "ArrowRight") { step(1); }
  });
  loop();
})();
