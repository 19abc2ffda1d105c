// The compare page: overlaid curves (charts.js), the "only differences" switch of the
// parameter table, parallel coordinates (parallel.js) of the numeric parameters against
// an objective and a scatter of any parameter against any metric. The data come from the
// page's <script type="application/json" id="compare-data"> block.
"use strict";
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
