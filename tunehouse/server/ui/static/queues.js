// Queues and workers: move a waiting task to the front or the back of its queue, take it
// out of its queue, and refresh the live part of the page (#queues-live, TH.live) every
// few seconds.
"use strict";
(() => {
  const live = document.getElementById("queues-live");
  if (!live) return;
  const refresh = TH.live("queues-live", {every: Number(live.dataset.refreshMs) || 5000});

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
})();
