// The search dashboard: the timeline of the trials per worker slot (search_timeline.js),
// the best objective so far against finished trials or time (scaled to the values),
// Stop (the JSON API's abort, "stopped by request", as `tunehouse hpo stop`), parallel
// coordinates (parallel.js) of the trials' parameters against an objective, the
// parameters' importance (from /searches/{id}/importance, the figures `tunehouse hpo
// show` prints), and, while the search runs, a refresh of the page's live part
// (#search-live, TH.live, with the data all of them are drawn from) every 5 s; the
// refresh stops when the search ends (the page reloads once with its final state).
"use strict";
(() => {
  const actions = document.getElementById("search-actions");
  if (!actions) return;
  const id = actions.dataset.id;
  const REFRESH_MS = 5000;

  const readData = () => JSON.parse(document.getElementById("search-data").textContent);

  // One axis per parameter (numbers as they are, anything else as the index of its
  // value, labelled), then the objective.
  function drawParcoords() {
    const data = readData();
    const box = document.getElementById("search-parcoords");
    const objective = chosenObjective(data);
    const trials = data.trials.filter((t) => t.state === "completed" &&
      typeof t.objectives[objective.label] === "number");
    document.getElementById("search-parcoords-hint").hidden = trials.length > 0;
    if (!trials.length) { Plotly.purge(box); return; }
    const names = [...new Set(trials.flatMap((t) => Object.keys(t.parameters)))].sort();
    const axes = names.map((name) => TH.parallel.axis(name, trials.map((t) => t.parameters[name])));
    axes.push({label: objective.label, values: trials.map((t) => t.objectives[objective.label])});
    TH.parallel.draw(box, axes, objective.sign === "min");
  }

  const chosenObjective = (data) => {
    const label = document.getElementById("search-objective").value;
    return data.objectives.find((o) => o.label === label) || data.objectives[0];
  };

  // The best value so far of the objective as trials finish (x: the number of finished
  // trials, or the time since the search started), with each complete trial's value;
  // the y axis fits the values (Plotly's autorange), whatever their scale.
  function drawBest() {
    const data = readData();
    const box = document.getElementById("best-chart");
    const objective = chosenObjective(data);
    const byId = new Map(data.trials.map((t) => [t.task_id, t]));
    const finished = data.timeline.filter((s) => s.ended && byId.has(s.task_id) &&
      !["running", "queued"].includes(s.state)).sort((a, b) => a.ended - b.ended);
    const byTime = document.getElementById("best-x").value === "time";
    const origin = data.origin || Math.min(...data.timeline.map((s) => s.created));
    const xs = [], best = [], pointX = [], pointY = [], names = [];
    let so = null;
    finished.forEach((s, index) => {
      const value = byId.get(s.task_id).objectives[objective.label];
      const x = byTime ? (s.ended - origin) / 60 : index + 1;
      if (typeof value === "number") {
        pointX.push(x); pointY.push(value); names.push("trial " + s.number);
        if (so === null || (objective.sign === "min" ? value < so : value > so)) so = value;
      }
      if (so !== null) { xs.push(x); best.push(so); }
    });
    box.dataset.points = String(pointY.length);
    document.getElementById("best-hint").hidden = pointY.length > 0;
    if (!pointY.length) { Plotly.purge(box); return; }
    const traces = [
      {x: pointX, y: pointY, text: names, mode: "markers", type: "scatter", name: "trial",
        marker: {size: 7, opacity: 0.6}, hovertemplate: "%{text}: %{y}<extra></extra>"},
      {x: xs, y: best, mode: "lines", type: "scatter", name: "best so far",
        line: {shape: "hv", width: 2.5}},
    ];
    Plotly.react(box, traces, {
      margin: {l: 60, r: 10, t: 10, b: 44}, height: 300, showlegend: true,
      legend: {orientation: "h", y: 1.08},
      xaxis: {title: {text: byTime ? "minutes since the search started" : "finished trials"},
        rangemode: byTime ? "tozero" : "normal", dtick: byTime ? undefined : Math.max(1, Math.ceil(finished.length / 12))},
      yaxis: {title: {text: objective.label + " (" + (objective.sign === "min" ? "lower" : "higher") + " is better)"},
        autorange: true},
    }, {displaylogo: false, responsive: true});
  }

  function drawTimeline() {
    const data = readData();
    TH.timeline.draw(document.getElementById("search-timeline"), data.timeline,
      data.running ? data.now : null);
  }

  function drawAll() {
    drawTimeline();
    drawBest();
    drawParcoords();
  }

  // The importance comes from its own route (its first computation takes seconds);
  // fetched again when the number of complete trials changed. Shown with the trials it
  // rests on, and marked when they are too few to rely on.
  let importanceOf = -1;
  async function loadImportance() {
    const complete = readData().complete;
    if (complete === importanceOf) return;
    importanceOf = complete;
    const box = document.getElementById("importance");
    let answer;
    try {
      answer = await TH.request("GET", box.dataset.url);
    } catch (error) {
      importanceOf = -1;
      throw error;
    }
    const basis = answer.method + " over " + answer.n_trials + " complete trial" + (answer.n_trials === 1 ? "" : "s");
    if (!answer.importance.length) {
      box.innerHTML = '<p class="hint">' + TH.esc(basis + ": " + answer.note) + "</p>";
      return;
    }
    const marker = answer.reliable ? "" : '<strong class="unreliable">unreliable</strong> ';
    box.innerHTML = '<p class="hint" id="importance-basis">' + marker + TH.esc(basis + (answer.note ? ": " + answer.note : "")) + "</p>" +
      '<table class="grid importance' + (answer.reliable ? "" : " unreliable") + '" id="importance-table" data-n-trials="' +
      answer.n_trials + '" data-reliable="' + (answer.reliable ? "yes" : "no") + '">' + answer.importance.map(([name, value]) =>
      "<tr><th>" + TH.esc(name) + '</th><td class="n">' + value.toFixed(3) + '</td><td class="bar-cell">' +
      '<span class="bar" style="width: ' + (100 * value).toFixed(1) + '%"></span></td></tr>').join("") + "</table>";
  }

  actions.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || button.dataset.action !== "stop") return;
    if (!confirm("Stop this search? Its running trials are aborted.")) return;
    const task = await TH.attempt(() => TH.api("POST", "/tasks/" + id + "/abort", {reason: "stopped by request"}));
    if (task) { TH.notice("stop requested"); button.disabled = true; setTimeout(() => location.reload(), 1500); }
  });

  document.getElementById("search-objective").addEventListener("change", () => { drawBest(); drawParcoords(); });
  document.getElementById("best-x").addEventListener("change", drawBest);
  drawAll();
  TH.attempt(loadImportance);
  TH.live("search-live", {
    every: actions.dataset.live === "yes" ? REFRESH_MS : 0,
    // a new status changes the actions too (Stop, Resume): the whole page then
    reloadIf: (page) => {
      const fresh = page.getElementById("search-actions");
      return Boolean(fresh) && fresh.dataset.status !== actions.dataset.status;
    },
    after: async () => {
      drawAll();
      await loadImportance();
    },
  });
})();
