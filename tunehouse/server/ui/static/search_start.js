// The form that starts a search: picking an objective that looks like a loss or an error
// proposes to minimise it; typing an objective sets the chosen one aside.
"use strict";
(() => {
  const objective = document.getElementById("objective");
  const custom = document.getElementById("custom-objective");
  const sign = document.getElementById("sign");
  if (!custom || !sign) return;

  function guess(label) {
    sign.value = /loss|error/i.test(label) ? "min" : "max";
  }
  custom.addEventListener("input", () => {
    if (objective) objective.disabled = custom.value.trim() !== "";
    if (custom.value.trim()) guess(custom.value);
  });
  if (!objective) return;  // the task reported no metrics: the objective is typed
  objective.addEventListener("change", () => {
    const option = objective.options[objective.selectedIndex];
    if (option) guess(option.textContent);
  });
  objective.disabled = custom.value.trim() !== "";
})();
