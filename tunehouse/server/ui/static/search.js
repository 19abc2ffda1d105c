// The search dashboard: the controller's curves (charts.js), Stop (the JSON API's abort,
// "stopped by request", as `tunehouse hpo stop`), parallel coordinates (parallel.js) of
// the trials' parameters against an objective, the parameters' importance (from
// /searches/{id}/importance, the figures `tunehouse hpo show` prints), and, while the
// search runs, a refresh of the page's live part (#search-live, TH.live) every 5 s.
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
    const label = document.getElementById("search-objective").value;
    const objective = data.objectives.find((o) => o.label === label) || data.objectives[0];
    const trials = data.trials.filter((t) => t.state === "completed" &&
      typeof t.objectives[objective.label] === "number");
    document.getElementById("search-parcoords-hint").hidden = trials.length > 0;
    if (!trials.length) { Plotly.purge(box); return; }
    const names = [...new Set(trials.flatMap((t) => Object.keys(t.parameters)))].sort();
    const axes = names.map((name) => TH.parallel.axis(name, trials.map((t) => t.parameters[name])));
    axes.push({label: objective.label, values: trials.map((t) => t.objectives[objective.label])});
    TH.parallel.draw(box, axes, objective.sign === "min");
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

  document.getElementById("search-objective").addEventListener("change", drawParcoords);
  TH.charts.mount(document.getElementById("search-charts"));
  drawParcoords();
  TH.attempt(loadImportance);
  TH.live("search-live", {
    every: actions.dataset.live === "yes" ? REFRESH_MS : 0,
    // a new status changes the actions too (Stop, Resume): the whole page then
    reloadIf: (page) => {
      const fresh = page.getElementById("search-actions");
      return Boolean(fresh) && fresh.dataset.status !== actions.dataset.status;
    },
    after: async () => {
      drawParcoords();
      await loadImportance();
    },
  });
})();
