// The search dashboard: the controller's curves (charts.js), Stop (the JSON API's abort,
// "stopped by request", as `tunehouse hpo stop`), parallel coordinates of the trials'
// parameters against an objective, the parameters' importance (from
// /searches/{id}/importance), and, while the search runs, a refresh of the page's data
// every 5 s (the page is fetched again and its #search-live part swapped in).
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
  // fetched again when the number of complete trials changed.
  let importanceOf = -1;
  async function loadImportance() {
    const complete = readData().complete;
    if (complete === importanceOf) return;
    importanceOf = complete;
    const box = document.getElementById("importance");
    const response = await fetch(box.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    const answer = await response.json().catch(() => null);
    if (!response.ok || !answer || !answer.importance) {
      importanceOf = -1;
      throw new Error((answer && answer.error && answer.error.message) || "the importance could not be computed");
    }
    if (!answer.importance.length) {
      box.innerHTML = '<p class="hint">' + TH.esc(answer.note) + "</p>";
      return;
    }
    box.innerHTML = '<table class="grid importance" id="importance-table">' + answer.importance.map(([name, value]) =>
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

  async function refresh() {
    const response = await fetch(location.href, {credentials: "same-origin", headers: {Accept: "text/html"}});
    if (!response.ok) throw new Error("the dashboard could not be refreshed (HTTP " + response.status + ")");
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const live = page.getElementById("search-live");
    const fresh = page.getElementById("search-actions");
    if (!live || !fresh) return;
    if (fresh.dataset.status !== actions.dataset.status) { location.reload(); return; }
    document.getElementById("search-live").replaceWith(document.adoptNode(live));
    drawParcoords();
    await loadImportance();
  }

  document.getElementById("search-objective").addEventListener("change", drawParcoords);
  TH.charts.mount(document.getElementById("search-charts"));
  drawParcoords();
  TH.attempt(loadImportance);
  if (actions.dataset.live === "yes") {
    setInterval(() => { if (!document.hidden) TH.attempt(refresh); }, REFRESH_MS);
  }
})();
