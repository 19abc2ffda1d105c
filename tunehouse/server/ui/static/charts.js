// Scalar charts: one chart per title, every series of every task on it, downsampled by
// the server (max_points), with smoothing, x axis (iteration / wall / relative time),
// log scale and a live refresh while a task runs. Used by the task and compare pages:
// a container <div id="charts" data-ids="id1,id2" data-names="a,b" data-live="yes">.
"use strict";
TH.charts = (() => {
  const MAX_POINTS = 2000;
  const REFRESH_MS = 5000;
  const RESOURCE = /^(:monitor:|speed$)/;

  function smooth(values, weight) {
    if (!weight) return values;
    let last = null;
    return values.map((v) => {
      if (v === null || !isFinite(v)) return v;
      last = last === null ? v : last * weight + (1 - weight) * v;
      return last;
    });
  }

  function xs(series, axis) {
    if (axis === "wall") return series.wall.map((w) => new Date(w * 1000));
    if (axis === "relative") {
      const start = series.wall.length ? series.wall[0] : 0;
      return series.wall.map((w) => w - start);
    }
    return series.x;
  }

  async function load(ids) {
    const answers = await Promise.all(ids.map((id) =>
      TH.api("GET", "/tasks/" + id + "/scalars?max_points=" + MAX_POINTS)));
    return answers;
  }

  function draw(container, ids, names, answers, settings) {
    const byTitle = new Map();
    answers.forEach((serieses, index) => {
      for (const series of serieses) {
        if (!byTitle.has(series.title)) byTitle.set(series.title, []);
        byTitle.get(series.title).push({series, task: names[index] || ids[index], several: ids.length > 1});
      }
    });
    const titles = [...byTitle.keys()].sort((a, b) =>
      (RESOURCE.test(a) - RESOURCE.test(b)) || a.localeCompare(b));
    const seen = new Set();
    for (const title of titles) {
      const key = "chart-" + title.replace(/[^A-Za-z0-9_-]/g, "_");
      seen.add(key);
      let box = document.getElementById(key);
      if (!box) {
        box = document.createElement("div");
        box.id = key;
        box.className = "chart";
        box.dataset.title = title;
        container.appendChild(box);
      }
      const traces = byTitle.get(title).map(({series, task, several}) => ({
        x: xs(series, settings.axis),
        y: smooth(series.y, settings.smoothing),
        name: several ? task + " · " + series.series : series.series,
        mode: series.x.length > 1 ? "lines" : "markers",
        type: "scatter",
      }));
      const layout = {
        title: {text: title, font: {size: 14}}, margin: {l: 50, r: 10, t: 36, b: 40},
        height: 300, legend: {orientation: "h"},
        xaxis: {title: {text: settings.axis === "relative" ? "seconds" : settings.axis}},
        yaxis: {type: settings.log ? "log" : "linear"},
      };
      Plotly.react(box, traces, layout, {displaylogo: false, responsive: true});
      box.dataset.points = traces.reduce((n, t) => n + t.x.length, 0);
    }
    for (const box of [...container.querySelectorAll("div.chart")]) {
      if (!seen.has(box.id)) box.remove();
    }
    container.dataset.drawn = String(titles.length);
  }

  // Draw the charts of the tasks named in ``container``'s data attributes and keep them
  // fresh while ``data-live`` is "yes".
  function mount(container) {
    const ids = container.dataset.ids.split(",").filter(Boolean);
    const names = (container.dataset.names || "").split(",");
    const control = (id) => document.getElementById(id);
    const settings = () => ({
      axis: control("x-axis") ? control("x-axis").value : "iteration",
      smoothing: control("smoothing") ? Number(control("smoothing").value) : 0,
      log: control("log-scale") ? control("log-scale").checked : false,
    });
    let answers = null;
    async function refresh() {
      answers = await TH.attempt(() => load(ids));
      if (answers) draw(container, ids, names, answers, settings());
    }
    for (const id of ["x-axis", "smoothing", "log-scale"]) {
      const element = control(id);
      if (element) element.addEventListener("input", () => answers && draw(container, ids, names, answers, settings()));
    }
    refresh();
    if (container.dataset.live === "yes") setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    return refresh;
  }

  return {mount, smooth};
})();
