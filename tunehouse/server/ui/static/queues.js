// Queues and workers: move a waiting task to the front or the back of its queue, take it
// out of its queue, and refresh the live part of the page every few seconds (the page is
// fetched again and its #queues-live part swapped in).
"use strict";
(() => {
  const live = document.getElementById("queues-live");
  if (!live) return;
  const every = Number(live.dataset.refreshMs) || 5000;
  let busy = false;
  let stopped = false;

  async function refresh() {
    if (busy || stopped) return;
    busy = true;
    try {
      const response = await fetch(location.pathname + location.search,
        {credentials: "same-origin", headers: {Accept: "text/html"}});
      if (response.redirected && new URL(response.url).pathname === "/login") {
        stopped = true;
        TH.notice("Your session ended: reload the page to sign in again.", true);
        return;
      }
      if (!response.ok) throw new Error("refreshing the page failed: HTTP " + response.status);
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html")
        .getElementById("queues-live");
      if (fresh) live.innerHTML = fresh.innerHTML;
      live.dataset.refreshed = String(Date.now());
    } catch (error) {
      TH.notice(error.message, true);
    } finally {
      busy = false;
    }
  }

  const done = {front: "moved to the front", back: "moved to the back", dequeue: "removed from its queue"};

  live.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const id = button.dataset.id;
    const action = button.dataset.action;
    if (action === "dequeue" && !confirm("Remove \"" + button.dataset.name + "\" from its queue? " +
                                         "It goes back to draft and no agent will run it.")) return;
    button.disabled = true;
    const answer = await TH.attempt(() => action === "dequeue"
      ? TH.api("POST", "/tasks/" + encodeURIComponent(id) + "/dequeue")
      : TH.api("POST", "/tasks/" + encodeURIComponent(id) + "/queue-position", {position: action}));
    if (answer !== undefined) TH.notice((button.dataset.name || "task") + " " + done[action]);
    await refresh();
  });

  setInterval(() => { if (!document.hidden) refresh(); }, every);
})();
