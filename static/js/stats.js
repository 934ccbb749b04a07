// Statistics page: draws the traffic chart from the JSON data block the server rendered
// (<script type="application/json" id="traffic-chart-data">; the CSP allows no inline script).
(function () {
  "use strict";
  var canvas = document.getElementById("traffic-chart");
  var source = document.getElementById("traffic-chart-data");
  if (!canvas || !source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colors = ["#3b5bdb", "#12b886"];
  var chart = new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.datasets.map(function (d, i) {
        return { label: d.label, data: d.data, backgroundColor: colors[i % colors.length], stack: "traffic" };
      })
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: data.unit } }
      },
      plugins: { legend: { position: "bottom" } }
    }
  });
  canvas.setAttribute("data-chart-ready", "1");
  window.portalTrafficChart = chart;
})();
