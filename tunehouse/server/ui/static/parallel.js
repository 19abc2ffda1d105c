// Parallel coordinates for the compare page and the search dashboard: SVG line traces,
// one per task or trial, coloured by the objective (the last axis). Plotly's own
// "parcoords" is WebGL through regl, which compiles code with Function(), refused by the
// pages' Content-Security-Policy (no 'unsafe-eval'). Exposed as TH.parallel.
"use strict";
TH.parallel = (() => {
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const BINS = 12;

  function colour(share) {
    const at = Math.min(Math.max(share, 0), 1) * (VIRIDIS.length - 1);
    const low = Math.floor(at), high = Math.min(low + 1, VIRIDIS.length - 1), part = at - low;
    const rgb = VIRIDIS[low].map((c, i) => Math.round(c + (VIRIDIS[high][i] - c) * part));
    return "rgb(" + rgb.join(",") + ")";
  }

  const short = (v) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4))));

  // axes: [{label, values: [number per line], ticktext?: [text per level]}], the last one
  // the objective that colours the lines; reverse: better is lower.
  function draw(box, axes, reverse) {
    const count = axes[0].values.length;
    const spans = axes.map((axis) => {
      const low = Math.min(...axis.values), high = Math.max(...axis.values);
      return {low, high, size: high - low};
    });
    const at = (a, v) => (spans[a].size ? (v - spans[a].low) / spans[a].size : 0.5);
    const objective = axes.length - 1;
    const bins = new Map();
    for (let line = 0; line < count; line += 1) {
      let share = at(objective, axes[objective].values[line]);
      if (reverse) share = 1 - share;
      const bin = Math.min(BINS - 1, Math.floor(share * BINS));
      if (!bins.has(bin)) bins.set(bin, {x: [], y: [], text: []});
      const trace = bins.get(bin);
      axes.forEach((axis, a) => {
        trace.x.push(a);
        trace.y.push(at(a, axis.values[line]));
        trace.text.push(axis.label + ": " + (axis.ticktext ? axis.ticktext[axis.values[line]] : short(axis.values[line])));
      });
      trace.x.push(null); trace.y.push(null); trace.text.push("");
    }
    const traces = [...bins.entries()].map(([bin, t]) => ({
      type: "scatter", mode: "lines+markers", x: t.x, y: t.y, text: t.text, hoverinfo: "text",
      line: {color: colour((bin + 0.5) / BINS), width: 2}, marker: {size: 5}, showlegend: false,
    }));
    const values = axes[objective].values;
    traces.push({type: "scatter", mode: "markers", x: values.map(() => objective), y: values.map((v) => at(objective, v)),
      hoverinfo: "skip", showlegend: false, marker: {size: 1, color: values, showscale: true,
        colorscale: "Viridis", reversescale: Boolean(reverse), colorbar: {thickness: 12}}});
    const shapes = axes.map((_, a) => ({type: "line", x0: a, x1: a, y0: 0, y1: 1, line: {color: "#888", width: 1}}));
    const annotations = [];
    axes.forEach((axis, a) => {
      annotations.push({x: a, y: 1.1, text: "<b>" + TH.esc(axis.label) + "</b>", showarrow: false});
      const ticks = axis.ticktext ? axis.ticktext.map((text, i) => [i, text])
        : [[spans[a].low, short(spans[a].low)], [spans[a].high, short(spans[a].high)]];
      for (const [value, text] of ticks) {
        annotations.push({x: a, y: at(a, value), text: TH.esc(text), showarrow: false, xanchor: "right",
          xshift: -4, font: {size: 11, color: "#555"}, bgcolor: "rgba(255,255,255,0.85)"});
      }
    });
    Plotly.react(box, traces, {
      margin: {l: 40, r: 20, t: 40, b: 20}, height: 420, hovermode: "closest", shapes, annotations,
      xaxis: {visible: false, range: [-0.5, axes.length - 0.7]},
      yaxis: {visible: false, range: [-0.05, 1.15]},
    }, {displaylogo: false, responsive: true});
    box.dataset.dimensions = String(axes.length);
    box.dataset.lines = String(count);
  }

  // A parameter's axis: numbers as they are, any other text as the index of its value.
  function axis(label, texts) {
    const numbers = texts.map((v) => (v === undefined || v === null || String(v).trim() === "" ? NaN : Number(v)));
    if (numbers.every((v) => isFinite(v))) return {label, values: numbers};
    const levels = [...new Set(texts.map(String))].sort();
    return {label, values: texts.map((v) => levels.indexOf(String(v))), ticktext: levels};
  }

  return {draw, axis, colour};
})();
