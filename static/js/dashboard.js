/* Draws the analysis dashboard's plotly figures: each <div data-plotly="ID"> takes its
   figure from the JSON in <script id="ID" type="application/json"> (Django json_script).
   Runs on load and on every htmx swap (the filter form replaces the results). */
(function () {
  "use strict";
  var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-plotly]").forEach(function (el) {
      var source = document.getElementById(el.dataset.plotly);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      // The height is data, not a style attribute: the Content-Security-Policy refuses
      // inline style attributes, not styles set from a script.
      if (el.dataset.height) el.style.height = el.dataset.height + "px";
      window.Plotly.react(el, figure.data, figure.layout, config);
    });
  }

  if (window.htmx) {
    window.htmx.onLoad(draw);
  } else {
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  }
})();
