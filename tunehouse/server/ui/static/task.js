// The task page: charts when the scalars tab opens, comment, parameters of a draft,
// clone, enqueue and abort.
"use strict";
(() => {
  const actions = document.getElementById("task-actions");
  if (!actions) return;
  const id = actions.dataset.id;
  let charts = null;

  document.addEventListener("tab-shown", (event) => {
    if (event.detail === "scalars" && !charts) charts = TH.charts.mount(document.getElementById("charts"));
  });

  document.getElementById("comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const comment = document.getElementById("comment").value;
    if (await TH.attempt(() => TH.api("PATCH", "/tasks/" + id, {comment}))) TH.notice("comment saved");
  });

  const params = document.getElementById("params-form");
  params.addEventListener("submit", async (event) => {
    event.preventDefault();
    const edits = [];
    for (const input of params.querySelectorAll("input[data-name]")) {
      const type = input.dataset.type;
      if ((type === "int" && !/^[-+]?\d+$/.test(input.value.trim())) ||
          (type === "float" && (input.value.trim() === "" || isNaN(Number(input.value))))) {
        TH.notice(input.dataset.section + "/" + input.dataset.name + ": '" + input.value +
                  "' is not a valid " + type, true);
        input.focus();
        return;
      }
      edits.push({section: input.dataset.section, name: input.dataset.name, value: input.value.trim(),
                  type, description: input.dataset.description});
    }
    if (await TH.attempt(() => TH.api("PUT", "/tasks/" + id + "/parameters", edits)) !== undefined) {
      TH.notice("parameters saved");
    }
  });

  actions.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "clone") {
      const clone = await TH.attempt(() => TH.api("POST", "/tasks/" + id + "/clone", {}));
      if (clone) location.href = "/tasks/" + clone.id + "#parameters";
    } else if (action === "enqueue") {
      const queue = document.getElementById("enqueue-queue").value;
      const task = await TH.attempt(() => TH.api("POST", "/tasks/" + id + "/enqueue", {queue}));
      if (task) { TH.notice("enqueued in " + queue); setTimeout(() => location.reload(), 600); }
    } else if (action === "abort") {
      if (!confirm("Abort this task?")) return;
      const task = await TH.attempt(() => TH.api("POST", "/tasks/" + id + "/abort", {reason: "aborted from the web UI"}));
      if (task) { TH.notice("abort requested"); setTimeout(() => location.reload(), 600); }
    }
  });
})();
