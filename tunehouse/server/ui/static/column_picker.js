// Pickers instead of syntax: every text field with data-picker gets selects in front of
// it that write its column spec from what the project recorded (the page's JSON
// #column-choices: metrics, resources, params; tunehouse/server/ui/columns.py), and the
// field stays editable (typing a spec by hand works as before).
//   data-picker="column": metric:<title>/<series>[:min|:max] or param:<section>/<name>
//   data-picker="metric": metrics and resources only (a dashboard's pins)
//   data-picker="filter": a column, an operator, then the value typed in the field
"use strict";
(() => {
  const data = document.getElementById("column-choices");
  if (!data) return;
  const choices = JSON.parse(data.textContent);
  const OPERATORS = ["<", "<=", "=", "!=", ">=", ">"];

  function select(label, className) {
    const element = document.createElement("select");
    element.className = className;
    element.setAttribute("aria-label", label);
    return element;
  }

  function option(parent, value, text) {
    const element = document.createElement("option");
    element.value = value;
    element.textContent = text;
    parent.appendChild(element);
    return element;
  }

  function group(parent, label, names, prefix) {
    if (!names || !names.length) return;
    const element = document.createElement("optgroup");
    element.label = label;
    for (const name of names) option(element, prefix + name, name);
    parent.appendChild(element);
  }

  function attach(input) {
    const mode = input.dataset.picker;
    const what = select("pick " + (mode === "metric" ? "a metric" : "a column"), "picker-what");
    option(what, "", mode === "metric" ? "pick a metric…" : "pick a metric or parameter…");
    group(what, "Metrics", choices.metrics, "metric:");
    group(what, "Resources (monitor, speed)", choices.resources, "metric:");
    if (mode !== "metric") group(what, "Parameters", choices.params, "param:");
    const field = select("value of the metric", "picker-field");
    option(field, "", "last");
    option(field, ":min", "min");
    option(field, ":max", "max");
    const operator = select("operator", "picker-op");
    for (const op of OPERATORS) option(operator, op, op);
    const parts = [what, field];
    if (mode === "filter") parts.push(operator);
    for (const part of parts) input.parentNode.insertBefore(part, input);
    let written = "";  // what the picker wrote last (a filter keeps the value typed after it)

    function write() {
      const spec = what.value;
      const isMetric = spec.startsWith("metric:") &&
        !(choices.resources || []).includes(spec.slice("metric:".length));
      field.hidden = !isMetric;
      operator.hidden = !spec;
      if (!spec) return;
      const column = spec + (isMetric ? field.value : "");
      const typed = written && input.value.startsWith(written) ? input.value.slice(written.length) : "";
      written = mode === "filter" ? column + " " + operator.value + " " : column;
      input.value = written + typed;
      input.dispatchEvent(new Event("input", {bubbles: true}));
      input.focus();
    }
    for (const part of parts) part.addEventListener("change", write);
    field.hidden = true;
    operator.hidden = true;
  }

  for (const input of document.querySelectorAll("input[data-picker]")) attach(input);
})();
