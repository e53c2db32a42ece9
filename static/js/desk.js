// The manager's desk: charts drawn with the vendored Chart.js from data the page embeds as
// JSON, and the search box that filters the unit tree (every unit stays a plain link).
(function () {
  "use strict";
  function draw() {
    var node = document.getElementById("chart-data");
    if (!node || typeof Chart === "undefined") { return; }
    var data = JSON.parse(node.textContent);
    var names = document.getElementById("chart-labels").dataset;
    var scale = Number(names.scale || 1);
    var colours = { stopped: "#0b4f8a", frozen: "#1e6b34", returned: "#8a5a00" };
    function toNumbers(list) { return list.map(function (v) { return Number(v) / scale; }); }
    function series(map, line) {
      return Object.keys(map).map(function (name) {
        var set = { label: names[name], data: toNumbers(map[name]), backgroundColor: colours[name] };
        if (line) { set.borderColor = colours[name]; set.tension = 0.2; set.pointRadius = 2; }
        return set;
      });
    }
    var common = { responsive: true, animation: false, plugins: { legend: { position: "bottom" } } };
    new Chart(document.getElementById("funnel-chart"), {
      type: "bar",
      data: {
        labels: [names.loss, names.asked, names.stopped, names.frozen, names.returned],
        datasets: [{ label: names.unit, data: toNumbers(data.funnel), backgroundColor: "#0b4f8a" }]
      },
      options: Object.assign({ indexAxis: "y" }, common, { plugins: { legend: { display: false } } })
    });
    new Chart(document.getElementById("unit-chart"), {
      type: "bar", data: { labels: data.units, datasets: series(data.unitSeries) }, options: common
    });
    new Chart(document.getElementById("bank-chart"), {
      type: "bar", data: { labels: data.banks, datasets: series(data.bankSeries) }, options: common
    });
    var trend = document.getElementById("trend-chart");
    if (trend) {
      new Chart(trend, {
        type: "line", data: { labels: data.trend, datasets: series(data.trendSeries, true) }, options: common
      });
    }
  }

  // A unit matches when its name or code holds the search; its ancestors stay shown so
  // that the match is seen where it sits in the tree.
  function filterTree(input) {
    var list = document.getElementById(input.dataset.filters);
    if (!list) { return; }
    var wanted = input.value.trim().toLowerCase();
    var items = Array.prototype.slice.call(list.querySelectorAll("li"));
    var shown = {};
    items.forEach(function (item) {
      if (!wanted || item.dataset.name.toLowerCase().indexOf(wanted) !== -1) {
        var path = item.dataset.path;
        items.forEach(function (other) {
          if (path.indexOf(other.dataset.path) === 0) { shown[other.dataset.path] = true; }
        });
      }
    });
    items.forEach(function (item) { item.hidden = !shown[item.dataset.path]; });
  }

  function start() {
    draw();
    var search = document.querySelector("input[data-filters]");
    if (search) { search.addEventListener("input", function () { filterTree(search); }); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
