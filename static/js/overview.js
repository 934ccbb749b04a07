// Overview page: the 30-day traffic chart, drawn from the JSON data block the server rendered
// (every day of the range is in it, a day without traffic as 0; the CSP allows no inline script).
(function () {
  "use strict";
  var canvas = document.getElementById("overview-traffic-chart");
  var source = document.getElementById("overview-traffic-data");
  if (!canvas || !source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var chart = new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.datasets.map(function (d) {
        return { label: d.label, data: d.data, backgroundColor: "#3b5bdb" };
      })
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: data.unit } } },
      plugins: { legend: { display: false } }
    }
  });
  canvas.setAttribute("data-chart-ready", "1");
  window.portalOverviewChart = chart;
})();
