// The model page: promote a version to a stage, or roll a stage back to an earlier
// version (both are models.set_model_stage, as `tunehouse models promote/rollback` do),
// each after a confirm() dialog; the page reloads to show the stages and their history.
"use strict";
(() => {
  const section = document.getElementById("model");
  if (!section) return;
  const name = section.dataset.name;

  async function setStage(stage, version, verb) {
    const model = await TH.attempt(() => TH.api("POST", "/models/stage", {name, stage, version}));
    if (model) {
      TH.notice(name + ": " + stage + " " + verb + " v" + model.version);
      setTimeout(() => location.reload(), 600);
    }
  }

  document.getElementById("promote-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const stage = document.getElementById("promote-stage").value.trim();
    const version = Number(document.getElementById("promote-version").value);
    const holder = section.querySelector('#stages tr[data-stage="' + CSS.escape(stage) + '"]');
    if (holder && Number(holder.dataset.version) === version) {
      TH.notice(stage + " already points at v" + version, true);
      return;
    }
    const was = holder ? " (now v" + holder.dataset.version + ")" : "";
    if (!confirm("Point stage \"" + stage + "\"" + was + " of model " + name + " at v" + version + "?")) return;
    setStage(stage, version, "now points at");
  });

  section.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action=rollback]");
    if (!button) return;
    const stage = button.dataset.stage;
    const version = Number(button.dataset.version);
    if (!confirm("Roll stage \"" + stage + "\" of model " + name + " back from v" +
                 button.dataset.from + " to v" + version + "?")) return;
    button.disabled = true;
    setStage(stage, version, "rolled back to").finally(() => { button.disabled = false; });
  });
})();
