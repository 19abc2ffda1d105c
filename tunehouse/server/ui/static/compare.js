// The compare page: overlaid curves (charts.js), the "only differences" switch of the
// parameter table, parallel coordinates of the numeric parameters against an objective
// and a scatter of any parameter against any metric. The data come from the page's
// <script type="application/json" id="compare-data"> block.
//
// TH.parallel (also used by the search dashboard) draws parallel coordinates with SVG
// line traces: Plotly's own "parcoords" is WebGL through regl, which compiles code with
// Function(), refused by the pages' Content-Security-Policy (no 'unsafe-eval').
"use strict";
TH.parallel = (() => {
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const BINS = 12;

  function colour(share) {
    const at = Math.min(Math.max(share, 0), 1) * (VIRIDIS.length - 1);
    const low = Math.floor(at), high = Math.min(low + 1, VIRIDIS.length - 1), part = at - low;
    const rgb = VIRIDIS[low].map((c, i) => Math.round(c + (VIRIDIS[high][i] - c) * part));
    return "rgb(" + rgb.join(",") + ")";
  }

  const short = (v) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4))));

  // axes: [{label, values: [number per line], ticktext?: [text per level]}], the last one
  // the objective that colours the lines; reverse: better is lower.
  function draw(box, axes, reverse) {
    const count = axes[0].values.length;
    const spans = axes.map((axis) => {
      const low = Math.min(...axis.values), high = Math.max(...axis.values);
      return {low, high, size: high - low};
    });
    const at = (a, v) => (spans[a].size ? (v - spans[a].low) / spans[a].size : 0.5);
    const objective = axes.length - 1;
    const bins = new Map();
    for (let line = 0; line < count; line += 1) {
      let share = at(objective, axes[objective].values[line]);
      if (reverse) share = 1 - share;
      const bin = Math.min(BINS - 1, Math.floor(share * BINS));
      if (!bins.has(bin)) bins.set(bin, {x: [], y: [], text: []});
      const trace = bins.get(bin);
      axes.forEach((axis, a) => {
        trace.x.push(a);
        trace.y.push(at(a, axis.values[line]));
        trace.text.push(axis.label + ": " + (axis.ticktext ? axis.ticktext[axis.values[line]] : short(axis.values[line])));
      });
      trace.x.push(null); trace.y.push(null); trace.text.push("");
    }
    const traces = [...bins.entries()].map(([bin, t]) => ({
      type: "scatter", mode: "lines+markers", x: t.x, y: t.y, text: t.text, hoverinfo: "text",
      line: {color: colour((bin + 0.5) / BINS), width: 2}, marker: {size: 5}, showlegend: false,
    }));
    const values = axes[objective].values;
    traces.push({type: "scatter", mode: "markers", x: values.map(() => objective), y: values.map((v) => at(objective, v)),
      hoverinfo: "skip", showlegend: false, marker: {size: 1, color: values, showscale: true,
        colorscale: "Viridis", reversescale: Boolean(reverse), colorbar: {thickness: 12}}});
    const shapes = axes.map((_, a) => ({type: "line", x0: a, x1: a, y0: 0, y1: 1, line: {color: "#888", width: 1}}));
    const annotations = [];
    axes.forEach((axis, a) => {
      annotations.push({x: a, y: 1.1, text: "<b>" + TH.esc(axis.label) + "</b>", showarrow: false});
      const ticks = axis.ticktext ? axis.ticktext.map((text, i) => [i, text])
        : [[spans[a].low, short(spans[a].low)], [spans[a].high, short(spans[a].high)]];
      for (const [value, text] of ticks) {
        annotations.push({x: a, y: at(a, value), text: TH.esc(text), showarrow: false, xanchor: "right",
          xshift: -4, font: {size: 11, color: "#555"}, bgcolor: "rgba(255,255,255,0.85)"});
      }
    });
    Plotly.react(box, traces, {
      margin: {l: 40, r: 20, t: 40, b: 20}, height: 420, hovermode: "closest", shapes, annotations,
      xaxis: {visible: false, range: [-0.5, axes.length - 0.7]},
      yaxis: {visible: false, range: [-0.05, 1.15]},
    }, {displaylogo: false, responsive: true});
    box.dataset.dimensions = String(axes.length);
    box.dataset.lines = String(count);
  }

  // A parameter's axis: numbers as they are, any other text as the index of its value.
  function axis(label, texts) {
    const numbers = texts.map((v) => (v === undefined || v === null || String(v).trim() === "" ? NaN : Number(v)));
    if (numbers.every((v) => isFinite(v))) return {label, values: numbers};
    const levels = [...new Set(texts.map(String))].sort();
    return {label, values: texts.map((v) => levels.indexOf(String(v))), ticktext: levels};
  }

  return {draw, axis, colour};
})();

(() => {
  const block = document.getElementById("compare-data");
  if (!block) return;
  const data = JSON.parse(block.textContent);
  const tasks = data.tasks;
  const RESOURCE = /^(:monitor:|speed\/)/;
  const PLOT = {displaylogo: false, responsive: true};
  let charts = null;

  const numeric = (text) => (text === undefined || text === null || String(text).trim() === "" ? NaN : Number(text));
  const isNumber = (value) => typeof value === "number" && isFinite(value);

  const metricKeys = [...new Set(tasks.flatMap((t) => Object.keys(t.metrics)))]
    .sort((a, b) => (RESOURCE.test(a) - RESOURCE.test(b)) || a.localeCompare(b));
  const paramKeys = [...new Set(tasks.flatMap((t) => Object.keys(t.params)))].sort();

  function fill(select, keys) {
    for (const key of keys) {
      const option = document.createElement("option");
      option.value = key;
      option.textContent = key;
      select.appendChild(option);
    }
  }

  function metricValue(task, key, field) {
    const summary = task.metrics[key];
    return summary ? summary[field] : null;
  }

  // Numeric parameters: every task that has them holds a number; those that differ first.
  function numericParams(chosen) {
    const found = paramKeys.filter((key) => {
      const values = chosen.map((t) => t.params[key]).filter((v) => v !== undefined);
      return values.length === chosen.length && values.every((v) => isFinite(numeric(v)));
    });
    const differing = found.filter((key) => new Set(chosen.map((t) => t.params[key])).size > 1);
    return differing.length ? differing : found;
  }

  function drawParcoords() {
    const box = document.getElementById("parcoords");
    const key = document.getElementById("parcoords-metric").value;
    const field = document.getElementById("parcoords-field").value;
    const chosen = tasks.filter((t) => isNumber(metricValue(t, key, field)));
    const params = numericParams(chosen);
    const hint = document.getElementById("parcoords-hint");
    hint.hidden = Boolean(params.length && chosen.length);
    if (!params.length || !chosen.length) { Plotly.purge(box); return; }
    const axes = params.map((name) => ({label: name, values: chosen.map((t) => numeric(t.params[name]))}));
    axes.push({label: key + " (" + field + ")", values: chosen.map((t) => metricValue(t, key, field))});
    TH.parallel.draw(box, axes, false);
  }

  function drawScatter() {
    const box = document.getElementById("scatter-plot");
    const param = document.getElementById("scatter-param").value;
    const key = document.getElementById("scatter-metric").value;
    const field = document.getElementById("scatter-field").value;
    const chosen = tasks.filter((t) => t.params[param] !== undefined && isNumber(metricValue(t, key, field)));
    const allNumbers = chosen.every((t) => isFinite(numeric(t.params[param])));
    Plotly.react(box, [{
      type: "scatter", mode: "markers+text", textposition: "top center",
      x: chosen.map((t) => (allNumbers ? numeric(t.params[param]) : String(t.params[param]))),
      y: chosen.map((t) => metricValue(t, key, field)),
      text: chosen.map((t) => t.name), marker: {size: 10},
    }], {
      margin: {l: 60, r: 20, t: 30, b: 50}, height: 420,
      xaxis: {title: {text: param}, type: allNumbers ? "linear" : "category"},
      yaxis: {title: {text: key + " (" + field + ")"}},
    }, PLOT);
    box.dataset.points = String(chosen.length);
  }

  const metricSelects = ["parcoords-metric", "scatter-metric"].map((id) => document.getElementById(id));
  for (const select of metricSelects) fill(select, metricKeys);
  fill(document.getElementById("scatter-param"), paramKeys);
  const firstDiffering = paramKeys.find((key) => new Set(tasks.map((t) => t.params[key])).size > 1);
  if (firstDiffering) document.getElementById("scatter-param").value = firstDiffering;

  for (const id of ["parcoords-metric", "parcoords-field"]) {
    document.getElementById(id).addEventListener("change", drawParcoords);
  }
  for (const id of ["scatter-param", "scatter-metric", "scatter-field"]) {
    document.getElementById(id).addEventListener("change", drawScatter);
  }

  const onlyDiff = document.getElementById("only-diff");
  onlyDiff.addEventListener("change", () => {
    for (const row of document.querySelectorAll("#param-table tr.same")) row.hidden = onlyDiff.checked;
  });

  // Plotly needs a visible box to size a chart: draw each when its tab opens.
  document.addEventListener("tab-shown", (event) => {
    const tab = event.detail;
    if (tab === "curves" && !charts) charts = TH.charts.mount(document.getElementById("charts"));
    if (tab === "parallel") drawParcoords();
    if (tab === "scatter") drawScatter();
  });
})();
