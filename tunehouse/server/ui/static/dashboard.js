// A project's dashboard: the signed-in user's pinned charts, drawn from the task listing
// of the JSON API (one call per chart kind, every pinned metric a column of it), and the
// form that pins a chart or removes one (PUT /preferences/dashboard:<project id>).
"use strict";
(() => {
  const root = document.getElementById("dashboard");
  if (!root) return;
  const project = root.dataset.project;
  const key = root.dataset.key;
  const pins = JSON.parse(document.getElementById("dashboard-pins").textContent) || [];
  const LIMIT = 1000;
  const REFRESH_MS = 15000;
  // a metric whose :last is better low (losses and errors); :min is always, :max never
  const LOWER_IS_BETTER = /loss|err|mse|mae|rmse|perplexity/i;

  function lowerIsBetter(spec) {
    const field = (spec.match(/:(last|min|max)$/) || [null, "last"])[1];
    if (field === "min") return true;
    if (field === "max") return false;
    return LOWER_IS_BETTER.test(spec);
  }

  async function save(next) {
    return TH.attempt(() => TH.api("PUT", "/preferences/" + encodeURIComponent(key), {value: next}));
  }

  // One page of the project's tasks with ``specs`` as columns.
  function listing(specs, extra) {
    const params = new URLSearchParams([["project", project], ["order_by", "created"],
      ["descending", "false"], ["limit", String(LIMIT)], ...extra]);
    for (const spec of specs) params.append("columns", spec);
    return TH.api("GET", "/tasks?" + params.toString());
  }

  function value(page, task, spec) {
    const row = page.values[task.id];
    const found = row ? row[spec] : undefined;
    return typeof found === "number" && isFinite(found) ? found : null;
  }

  function note(index, text) {
    document.getElementById("pin-note-" + index).textContent = text;
  }

  function openOnClick(box) {
    if (box.dataset.bound) return;
    box.dataset.bound = "yes";
    box.on("plotly_click", (event) => {
      const id = event.points.length ? event.points[0].customdata : null;
      if (id) location.href = "/tasks/" + encodeURIComponent(id);
    });
  }

  const LAYOUT = {margin: {l: 50, r: 10, t: 30, b: 50}, height: 300, showlegend: true,
                  legend: {orientation: "h", x: 0, y: 1.12}};

  function drawOverTime(index, pin, page) {
    const tasks = page.tasks.filter((task) => value(page, task, pin.spec) !== null);
    const box = document.getElementById("pin-chart-" + index);
    const low = lowerIsBetter(pin.spec);
    let best = null;
    const bests = tasks.map((task) => {
      const y = value(page, task, pin.spec);
      best = best === null || (low ? y < best : y > best) ? y : best;
      return best;
    });
    const x = tasks.map((task) => new Date(task.created));
    const traces = [
      {x, y: tasks.map((task) => value(page, task, pin.spec)), text: tasks.map((task) => task.name),
       customdata: tasks.map((task) => task.id), mode: "markers", type: "scatter", name: "task",
       hovertemplate: "%{text}<br>%{y}<extra></extra>"},
      {x, y: bests, mode: "lines", type: "scatter", line: {shape: "hv"},
       name: "best so far (" + (low ? "lowest" : "highest") + ")", hoverinfo: "skip"},
    ];
    Plotly.react(box, traces, {...LAYOUT, xaxis: {type: "date"}}, {displaylogo: false, responsive: true});
    openOnClick(box);
    box.dataset.points = String(tasks.length);
    const more = page.total > page.tasks.length ? " (the first " + page.tasks.length + " of " + page.total + " tasks)" : "";
    note(index, tasks.length ? tasks.length + " task" + (tasks.length === 1 ? "" : "s") + more
                             : "No task of this project reports this metric yet.");
  }

  function drawRunning(index, pin, page) {
    const tasks = page.tasks.filter((task) => value(page, task, pin.spec) !== null);
    const box = document.getElementById("pin-chart-" + index);
    const traces = [{x: tasks.map((task) => task.name), y: tasks.map((task) => value(page, task, pin.spec)),
                     customdata: tasks.map((task) => task.id), type: "bar", name: "latest",
                     hovertemplate: "%{x}<br>%{y}<extra></extra>"}];
    Plotly.react(box, traces, {...LAYOUT, showlegend: false}, {displaylogo: false, responsive: true});
    openOnClick(box);
    box.dataset.points = String(tasks.length);
    note(index, tasks.length ? tasks.length + " running task" + (tasks.length === 1 ? "" : "s")
                             : "No running task reports this metric right now.");
  }

  // Redraw the charts of running tasks, and with ``all`` those over time as well.
  async function refresh(all) {
    const specs = (kind) => [...new Set(pins.filter((p) => p.kind === kind).map((p) => p.spec))];
    const overTime = all ? specs("metric_over_time") : [];
    const running = specs("running_latest");
    const [history, live] = await Promise.all([
      overTime.length ? TH.attempt(() => listing(overTime, [])) : null,
      running.length ? TH.attempt(() => listing(running, [["status", "in_progress"]])) : null,
    ]);
    pins.forEach((pin, index) => {
      if (pin.kind === "metric_over_time" && history) drawOverTime(index, pin, history);
      else if (pin.kind === "running_latest" && live) drawRunning(index, pin, live);
    });
    root.dataset.drawn = String(Date.now());
  }

  document.getElementById("pin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const pin = {kind: document.getElementById("pin-kind").value,
                 spec: document.getElementById("pin-spec").value.trim(),
                 title: document.getElementById("pin-title").value.trim()};
    if (await save([...pins, pin])) {
      TH.notice("chart pinned");
      setTimeout(() => location.reload(), 400);
    }
  });

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action=unpin]");
    if (!button) return;
    const index = Number(button.dataset.index);
    button.disabled = true;
    if (await save(pins.filter((_, i) => i !== index))) {
      TH.notice("chart removed");
      setTimeout(() => location.reload(), 400);
    } else {
      button.disabled = false;
    }
  });

  document.getElementById("pin-kind").addEventListener("change", (event) => {
    document.getElementById("pin-spec").placeholder = event.target.value === "running_latest"
      ? "metric::monitor:/gpu0_utilization" : "metric:accuracy/validation:max";
  });

  if (pins.length) {
    refresh(true);
    if (pins.some((p) => p.kind === "running_latest")) {
      setInterval(() => { if (!document.hidden) refresh(false); }, REFRESH_MS);
    }
  }
})();
