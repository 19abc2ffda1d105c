// The experiment table: multi-select and the actions on the selected tasks, and the
// columns and sort the user chose, remembered for this project (the preference
// table:<project id>, which the server applies to a URL without col and order).
"use strict";
(() => {
  const table = document.getElementById("tasks");
  const bar = document.getElementById("table-actions");
  if (!table || !bar) return;
  const all = document.getElementById("pick-all");
  const boxes = () => [...table.querySelectorAll("input.pick-one")];
  const chosen = () => boxes().filter((b) => b.checked).map((b) => b.value);

  function refresh() {
    const ids = chosen();
    for (const button of bar.querySelectorAll("button[data-action]")) {
      const need = button.dataset.action === "compare" ? 2 : 1;
      button.disabled = ids.length < need || (button.dataset.action === "compare" && ids.length > 50);
    }
    document.getElementById("selected-count").textContent = ids.length ? ids.length + " selected" : "";
  }
  table.addEventListener("change", refresh);
  all.addEventListener("change", () => { for (const b of boxes()) b.checked = all.checked; refresh(); });

  async function each(ids, call, verb) {
    let done = 0;
    const failures = [];
    for (const id of ids) {
      try { await call(id); done += 1; } catch (error) { failures.push(error.message); }
    }
    if (failures.length) TH.notice(verb + " " + done + " of " + ids.length + ": " + failures[0], true);
    else TH.notice(verb + " " + done + " task" + (done === 1 ? "" : "s"));
    setTimeout(() => location.reload(), failures.length ? 2500 : 600);
  }

  const actions = {
    compare: (ids) => { location.href = "/compare?ids=" + ids.join(","); },
    archive: (ids) => each(ids, async (id) => {
      const row = table.querySelector('tr[data-id="' + id + '"]');
      const task = await TH.api("GET", "/tasks/" + id);
      if (!task.tags.includes("archived")) {
        await TH.api("PATCH", "/tasks/" + id, {tags: [...task.tags, "archived"]});
      }
      return row;
    }, "archived"),
    abort: (ids) => each(ids, (id) => TH.api("POST", "/tasks/" + id + "/abort",
      {reason: "aborted from the web UI"}), "abort requested for"),
    enqueue: (ids) => {
      const queue = document.getElementById("enqueue-queue").value;
      return each(ids, (id) => TH.api("POST", "/tasks/" + id + "/enqueue", {queue}), "enqueued");
    },
    delete: (ids) => {
      if (!confirm("Delete " + ids.length + " task(s) with everything they recorded? This cannot be undone.")) return;
      return each(ids, (id) => TH.api("DELETE", "/tasks/" + id), "deleted");
    },
  };
  bar.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button && !button.disabled) actions[button.dataset.action](chosen());
  });

  // Resizable columns: drag the right edge of a header cell.
  for (const th of table.querySelectorAll("thead th")) {
    const grip = document.createElement("span");
    grip.className = "grip";
    th.appendChild(grip);
    grip.addEventListener("mousedown", (down) => {
      const start = down.clientX, width = th.offsetWidth;
      const move = (e) => { th.style.width = Math.max(40, width + e.clientX - start) + "px"; };
      const up = () => { document.removeEventListener("mousemove", move); document.removeEventListener("mouseup", up); };
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
      down.preventDefault();
    });
  }
  refresh();

  const view = document.getElementById("table-view");
  if (view && view.dataset.remember === "yes") {
    TH.attempt(() => TH.api("PUT", "/preferences/" + encodeURIComponent(view.dataset.key),
      {value: JSON.parse(view.textContent)}));
  }
})();
