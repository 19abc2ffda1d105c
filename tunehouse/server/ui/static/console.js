// The console tab: every line of the task's console, a live tail while it runs, and a
// search that keeps only matching lines.
"use strict";
(() => {
  const box = document.getElementById("console-lines");
  if (!box) return;
  const id = box.dataset.id;
  const search = document.getElementById("console-search");
  const follow = document.getElementById("console-follow");
  const PAGE = 5000;
  let after = 0;
  let started = false;

  function append(lines) {
    const query = search.value.toLowerCase();
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      const div = document.createElement("div");
      div.className = "line " + line.stream;
      div.textContent = line.text;
      if (query && !line.text.toLowerCase().includes(query)) div.hidden = true;
      fragment.appendChild(div);
    }
    box.appendChild(fragment);
    if (follow.checked) box.scrollTop = box.scrollHeight;
  }

  async function fetchNew() {
    for (;;) {
      const lines = await TH.attempt(() => TH.api("GET", "/tasks/" + id + "/logs?limit=" + PAGE + "&after_seq=" + after));
      if (!lines || !lines.length) break;
      after = lines[lines.length - 1].seq;
      append(lines);
      if (lines.length < PAGE) break;
    }
    box.dataset.loaded = "yes";
  }

  search.addEventListener("input", () => {
    const query = search.value.toLowerCase();
    for (const div of box.children) div.hidden = Boolean(query) && !div.textContent.toLowerCase().includes(query);
  });

  document.addEventListener("tab-shown", (event) => {
    if (event.detail !== "console" || started) return;
    started = true;
    fetchNew();
    if (box.dataset.live === "yes") setInterval(() => { if (!document.hidden) fetchNew(); }, 2000);
  });
})();
