// Scalar charts: one chart per title, every series of every task on it, downsampled by
// the server (max_points), with smoothing, x axis (iteration / wall / relative time),
// log scale and a live refresh while a task runs. Used by the task and compare pages:
// a container <div id="charts" data-ids="id1,id2" data-names="a,b" data-live="yes">.
//
// Series of different units are not drawn on one axis: a title's series are split into
// groups, a chart each (see docs/ui.md, "Units and scales"): by the unit their name
// says (seconds, per second, %, MB, ...), then by scale (value ranges more than 10x
// apart). System titles (":monitor:...") are first split by device (machine, GPU n) and
// drawn against wall or relative time (the "resource time" control), never iteration.
"use strict";
TH.charts = (() => {
  const MAX_POINTS = 2000;
  const REFRESH_MS = 5000;
  const SYSTEM = /^:monitor:/;
  // Training curves first, then the speed, then the system's (resource) charts.
  const rank = (title) => SYSTEM.test(title) ? 2 : title === "speed" ? 1 : 0;
  // Ranges of |value| further apart than this factor are drawn on separate charts.
  const SCALE_GAP = 10;
  // The unit a series' name says (lower case, separators as "_"); the first match wins.
  const UNITS = [
    [/(^|_)(mbs|mb_s|mb_per_s|mb_per_sec|mb_per_second)$/, "MB/s"],
    [/(^|_)per_s(ec|econd)?$|(^|_)ps$/, "per second"],
    [/(^|_)(ms|msec|millis|milliseconds?)$/, "ms"],
    [/(^|_)(s|sec|secs|seconds?)$/, "seconds"],
    [/%|(^|_)(percent|pct|percentage|utili[sz]ation|usage)$/, "%"],
    [/(^|_)(kb|kib|kilobytes)$/, "KB"],
    [/(^|_)(mb|mib|megabytes)$/, "MB"],
    [/(^|_)(gb|gib|gigabytes)$/, "GB"],
    [/(^|_)bytes$/, "bytes"],
    [/(^|_)(temp|temperature|celsius)$/, "°C"],
  ];

  function unitOf(name) {
    const key = name.toLowerCase().replace(/[^a-z0-9%]+/g, "_");
    for (const [pattern, unit] of UNITS) if (pattern.test(key)) return unit;
    return "";
  }

  // The device a system series is about: "GPU n" for gpu<n>_... / gpu_<n>_..., else "machine".
  function deviceOf(name) {
    const gpu = /^gpu_?(\d+)(_|$)/i.exec(name);
    return gpu ? "GPU " + gpu[1] : "machine";
  }

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

  // [lowest, highest] |value| of the finite values, or null when there is none.
  function magnitudes(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      if (v === null || !isFinite(v)) continue;
      lo = Math.min(lo, Math.abs(v));
      hi = Math.max(hi, Math.abs(v));
    }
    return hi < 0 ? null : [lo, hi];
  }

  // The groups a title's series are drawn in: [{device, unit, names}], one chart each.
  // Series are grouped by series name (a name's series of every task stay together): by
  // device for a system title, then by unit, then by scale: sorted by their smallest
  // |value|, a series joins the group before it unless its smallest |value| is more than
  // SCALE_GAP times the group's largest (a series of zeros, or of no values, joins any).
  function groupsOf(entries, system) {
    const values = new Map();
    for (const {series} of entries) {
      if (!values.has(series.series)) values.set(series.series, []);
      values.get(series.series).push(...series.y);
    }
    const byKind = new Map();
    for (const name of values.keys()) {
      const device = system ? deviceOf(name) : "";
      const unit = unitOf(name);
      const kind = device + "\u0000" + unit;
      if (!byKind.has(kind)) byKind.set(kind, {device, unit, names: []});
      byKind.get(kind).names.push(name);
    }
    const deviceOrder = (d) => d.startsWith("GPU ") ? 1e6 + Number(d.slice(4)) : 0;
    const kinds = [...byKind.values()].sort((a, b) =>
      (deviceOrder(a.device) - deviceOrder(b.device)) || a.unit.localeCompare(b.unit));
    const groups = [];
    for (const {device, unit, names} of kinds) {
      const ranges = names.map((name) => ({name, range: magnitudes(values.get(name)) || [0, 0]}))
        .sort((a, b) => (a.range[0] - b.range[0]) || a.name.localeCompare(b.name));
      let current = null;
      for (const {name, range} of ranges) {
        if (current && (current.high === 0 || range[0] <= current.high * SCALE_GAP)) {
          current.names.push(name);
          current.high = Math.max(current.high, range[1]);
        } else {
          current = {device, unit, names: [name], high: range[1]};
          groups.push(current);
        }
      }
    }
    return groups;
  }

  // The chart title of a group: the title alone when it is not split, else what sets
  // the group apart (device, unit, or the series' names when they say no unit).
  function groupTitle(title, group, split, system) {
    const what = group.unit || group.names.join(", ");
    if (system) return group.device + " · " + what;
    return split ? title + " · " + what : title;
  }

  // The y range of a chart whose finite values are all equal (Plotly would draw it at
  // the middle of -1..1 whatever the value): the value ±10% (±1 for 0), or half a decade
  // on a log axis. Null when the values vary (Plotly's own range is right then).
  function constantRange(traces, log) {
    let lo = Infinity, hi = -Infinity;
    for (const trace of traces) {
      for (const v of trace.y) {
        if (v === null || !isFinite(v)) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (hi < lo || hi - lo > Math.abs(hi) * 1e-9) return null;
    if (log) return hi > 0 ? [Math.log10(hi) - 0.5, Math.log10(hi) + 0.5] : null;
    const pad = hi === 0 ? 1 : Math.abs(hi) * 0.1;
    return [hi - pad, hi + pad];
  }

  async function load(ids) {
    const answers = await Promise.all(ids.map((id) =>
      TH.api("GET", "/tasks/" + id + "/scalars?max_points=" + MAX_POINTS)));
    return answers;
  }

  function axisTitle(axis) {
    return axis === "relative" ? "seconds" : axis;
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
      (rank(a) - rank(b)) || a.localeCompare(b));
    const seen = new Set();
    for (const title of titles) {
      const entries = byTitle.get(title);
      const system = SYSTEM.test(title);
      const groups = groupsOf(entries, system);
      const axis = system ? settings.resourceAxis : settings.axis;
      for (const group of groups) {
        const label = groupTitle(title, group, groups.length > 1, system);
        const key = "chart-" + (title + "-" + label).replace(/[^A-Za-z0-9_-]/g, "_");
        seen.add(key);
        let box = document.getElementById(key);
        if (!box) {
          box = document.createElement("div");
          box.id = key;
          box.className = "chart";
          box.dataset.title = title;
          container.appendChild(box);
        }
        box.dataset.group = label;
        box.dataset.unit = group.unit;
        const traces = entries.filter(({series}) => group.names.includes(series.series))
          .map(({series, task, several}) => ({
            x: xs(series, axis),
            y: smooth(series.y, settings.smoothing),
            name: several ? task + " · " + series.series : series.series,
            mode: series.x.length > 1 ? "lines" : "markers",
            type: "scatter",
          }));
        const range = constantRange(traces, settings.log);
        const yaxis = {type: settings.log ? "log" : "linear", title: {text: group.unit}};
        if (range) Object.assign(yaxis, {range, autorange: false});
        // wall-time ticks take two lines (time, then date): the legend goes further down
        const wall = axis === "wall";
        const layout = {
          title: {text: label, font: {size: 14}}, margin: {l: 60, r: 24, t: 36, b: wall ? 60 : 40},
          height: 300, legend: wall ? {orientation: "h", y: -0.35} : {orientation: "h"}, showlegend: true,
          xaxis: {title: {text: axisTitle(axis)}}, yaxis,
        };
        Plotly.react(box, traces, layout, {displaylogo: false, responsive: true});
        box.dataset.points = traces.reduce((n, t) => n + t.x.length, 0);
        box.dataset.series = group.names.join(",");
        box.dataset.axis = axis;
      }
    }
    for (const box of [...container.querySelectorAll("div.chart")]) {
      if (!seen.has(box.id)) box.remove();
    }
    container.dataset.drawn = String(seen.size);
  }

  // Draw the charts of the tasks named in ``container``'s data attributes and keep them
  // fresh while ``data-live`` is "yes".
  function mount(container) {
    const ids = container.dataset.ids.split(",").filter(Boolean);
    const names = (container.dataset.names || "").split(",");
    const control = (id) => document.getElementById(id);
    const settings = () => ({
      axis: control("x-axis") ? control("x-axis").value : "iteration",
      resourceAxis: control("resource-axis") ? control("resource-axis").value : "relative",
      smoothing: control("smoothing") ? Number(control("smoothing").value) : 0,
      log: control("log-scale") ? control("log-scale").checked : false,
    });
    let answers = null;
    async function refresh() {
      answers = await TH.attempt(() => load(ids));
      if (answers) draw(container, ids, names, answers, settings());
    }
    for (const id of ["x-axis", "resource-axis", "smoothing", "log-scale"]) {
      const element = control(id);
      if (element) element.addEventListener("input", () => answers && draw(container, ids, names, answers, settings()));
    }
    refresh();
    if (container.dataset.live === "yes") setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    return refresh;
  }

  return {mount, smooth};
})();
