// The manager's charts, drawn with the vendored Chart.js from data the page embeds as JSON.
(function () {
  "use strict";
  function draw() {
    var node = document.getElementById("chart-data");
    if (!node || typeof Chart === "undefined") { return; }
    var data = JSON.parse(node.textContent);
    var names = document.getElementById("chart-labels").dataset;
    var colours = { stopped: "#0b4f8a", frozen: "#1e6b34", returned: "#8a5a00" };
    function toNumbers(list) { return list.map(function (v) { return Number(v); }); }
    function series(map) {
      return Object.keys(map).map(function (name) {
        return { label: names[name], data: toNumbers(map[name]), backgroundColor: colours[name] };
      });
    }
    var common = { responsive: true, animation: false, plugins: { legend: { position: "bottom" } } };
    new Chart(document.getElementById("funnel-chart"), {
      type: "bar",
      data: {
        labels: [names.loss, names.asked, names.stopped, names.frozen, names.returned],
        datasets: [{ label: "¥", data: toNumbers(data.funnel), backgroundColor: "#0b4f8a" }]
      },
      options: Object.assign({ indexAxis: "y" }, common, { plugins: { legend: { display: false } } })
    });
    new Chart(document.getElementById("unit-chart"), {
      type: "bar", data: { labels: data.units, datasets: series(data.unitSeries) }, options: common
    });
    new Chart(document.getElementById("bank-chart"), {
      type: "bar", data: { labels: data.banks, datasets: series(data.bankSeries) }, options: common
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
