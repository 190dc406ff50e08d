/* hydratune console: the small scripts of its pages (no build step). */
"use strict";
var hydratune = (function () {
  var ACTIVE = ["validating_files", "queued", "running", "paused"];

  /* The jobs table body, fetched again every few seconds. */
  function refreshRows(url, tbodyId) {
    setInterval(function () {
      fetch(url, { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html !== null) { document.getElementById(tbodyId).innerHTML = html; }
      });
    }, 3000);
  }

  /* Show only the chosen method's own fields; hidden ones are disabled (not sent). */
  function methodFields(selectId) {
    var select = document.getElementById(selectId);
    function update() {
      document.querySelectorAll(".method-fields").forEach(function (set) {
        var on = set.dataset.method === select.value;
        set.hidden = !on;
        set.disabled = !on;
      });
    }
    select.addEventListener("change", update);
    update();
  }

  /* Training data: only the chosen source's input is shown and sent (file or dataset preset). */
  function dataSource(radioName) {
    var radios = document.querySelectorAll('input[name="' + radioName + '"]');
    function update() {
      var chosen = document.querySelector('input[name="' + radioName + '"]:checked');
      document.querySelectorAll(".data-fields").forEach(function (box) {
        var on = chosen !== null && box.dataset.source === chosen.value;
        box.hidden = !on;
        box.querySelectorAll("select, input").forEach(function (el) { el.disabled = !on; });
      });
    }
    radios.forEach(function (radio) { radio.addEventListener("change", update); });
    update();
  }

  /* Train and validation loss per step (uPlot), polled while the job is active. */
  function lossChart(url, chartId, summaryId, status) {
    var box = document.getElementById(chartId), plot = null;
    function series(points, steps) {
      var byStep = {};
      points.forEach(function (p) { byStep[p[0]] = p[1]; });
      return steps.map(function (s) { return s in byStep ? byStep[s] : null; });
    }
    function draw(data) {
      var steps = Array.from(new Set(data.train.concat(data.valid).map(function (p) { return p[0]; })))
        .sort(function (a, b) { return a - b; });
      var rows = [steps, series(data.train, steps), series(data.valid, steps)];
      box.dataset.points = String(data.train.length + data.valid.length);
      document.getElementById(summaryId).textContent = data.train.length
        ? "Train loss at step " + data.train[data.train.length - 1][0] + ": " +
          data.train[data.train.length - 1][1].toFixed(4) + " (" + data.train.length +
          " train points, " + data.valid.length + " validation points)"
        : "No points yet.";
      if (data.tokens_per_second) {
        document.getElementById("tokens-per-second").textContent = data.tokens_per_second.toFixed(1);
      }
      document.getElementById("job-status").textContent = data.status;
      var width = Math.max(260, Math.min(box.clientWidth || 600, 900));
      var opts = {
        width: width, height: 280,
        scales: { x: { time: false } },
        axes: [{ label: "step" }, { label: "loss" }],
        series: [{ label: "step" },
          { label: "train loss", stroke: "#1f5fbf", width: 2, points: { show: true } },
          { label: "validation loss", stroke: "#c2410c", width: 2, dash: [6, 4], points: { show: true }, spanGaps: true }]
      };
      if (plot) { plot.setData(rows); } else { plot = new uPlot(opts, rows, box); }
      return ACTIVE.indexOf(data.status) >= 0;
    }
    function poll() {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (data) {
          var again = draw(data);
          if (again) { setTimeout(poll, 2000); }
          else if (ACTIVE.indexOf(status) >= 0) { location.reload(); }
        });
    }
    poll();
  }
  return { refreshRows: refreshRows, methodFields: methodFields, dataSource: dataSource, lossChart: lossChart };
})();
