// The timeline of a search's trials (TH.timeline.draw): one lane per worker slot (the
// server packs the trials of a worker into its slots, tunehouse/hpo/timeline.py), one bar
// per trial: a thin grey part while it waited in its queue, then a bar coloured by its
// outcome while it ran (up to now when it has not ended). Idle slots and slow starts
// show as gaps. Drawn as SVG (classes in ui.css: no inline styles); each bar links to its
// task and names its trial, state, wait and run time in a tooltip.
"use strict";
TH.timeline = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const ROW = 20, LABEL = 230, AXIS = 24, PAD = 12, CHARS = 32;

  function node(name, attributes, parent) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (parent) parent.appendChild(element);
    return element;
  }

  // "1m05s", "2h03m", "12s" for a duration in seconds
  function span(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  }

  // draw(box, spans, now): spans as the page's data gives them (number, task_id, state,
  // lane, created, started, ended; seconds since the epoch); `now`: when the data was
  // read (the end of the bars still going), null once the search ended (the axis then
  // ends with its last trial)
  function draw(box, spans, now) {
    box.textContent = "";
    box.dataset.bars = String(spans.length);
    if (!spans.length) {
      node("text", {x: 0, y: 14, class: "tl-hint"}, node("svg", {width: 300, height: 20}, box))
        .textContent = "No trial yet.";
      box.dataset.lanes = "0";
      return;
    }
    const lanes = [...new Set(spans.map((s) => s.lane))].sort((a, b) =>
      (a === "queued") - (b === "queued") || a.localeCompare(b, undefined, {numeric: true}));
    box.dataset.lanes = String(lanes.length);
    const start = Math.min(...spans.map((s) => s.created));
    const end = Math.max(now || 0, ...spans.map((s) => s.ended || s.started || s.created));
    now = now || end;
    const width = Math.max(480, box.clientWidth || 900);
    const plot = width - LABEL - PAD;
    const x = (t) => LABEL + plot * (t - start) / Math.max(1, end - start);
    const svg = node("svg", {width, height: AXIS + ROW * lanes.length + 4, class: "timeline",
      role: "img", "aria-label": "trials over time per worker slot"}, box);
    // the axis: time since the first trial was made
    for (let i = 0; i <= 5; i += 1) {
      const t = start + (end - start) * i / 5;
      node("line", {x1: x(t), x2: x(t), y1: AXIS - 4, y2: AXIS + ROW * lanes.length, class: "tl-grid"}, svg);
      node("text", {x: x(t), y: AXIS - 8, class: "tl-tick", "text-anchor": i === 5 ? "end" : i ? "middle" : "start"}, svg)
        .textContent = "+" + span(t - start);
    }
    lanes.forEach((lane, index) => {
      node("text", {x: 0, y: AXIS + ROW * index + 14, class: "tl-lane"}, svg).textContent =
        lane.length > CHARS ? "…" + lane.slice(1 - CHARS) : lane;
      node("title", {}, svg.lastChild).textContent = lane;
    });
    for (const s of spans) {
      const y = AXIS + ROW * lanes.indexOf(s.lane);
      const link = node("a", {href: "/tasks/" + s.task_id, "data-trial": s.number, "data-state": s.state}, svg);
      const waited = (s.started || now) - s.created;
      const ran = s.started ? (s.ended || now) - s.started : 0;
      node("title", {}, link).textContent = "trial " + s.number + " · " + s.state + " · waited " +
        span(waited) + (s.started ? " · ran " + span(ran) + (s.ended ? "" : " so far") : "");
      node("rect", {x: x(s.created), y: y + 8, width: Math.max(1, x(s.started || now) - x(s.created)),
        height: 4, class: "tl-wait"}, link);
      if (s.started) {
        node("rect", {x: x(s.started), y: y + 3, width: Math.max(2, x(s.ended || now) - x(s.started)),
          height: ROW - 6, rx: 2, class: "tl-bar tl-" + s.state}, link);
      }
    }
  }

  return {draw, span};
})();
