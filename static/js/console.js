// Operator console: draws the revenue chart from the JSON data block the server rendered
// (<script type="application/json" id="revenue-chart-data">; the CSP allows no inline script).
(function () {
  "use strict";
  var canvas = document.getElementById("revenue-chart");
  var source = document.getElementById("revenue-chart-data");
  if (!canvas || !source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: data.labels, datasets: [{ label: data.label, data: data.data, backgroundColor: "#3b5bdb" }] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: "USD" } } },
      plugins: { legend: { display: false } }
    }
  });
  canvas.setAttribute("data-chart-ready", "1");
})();
