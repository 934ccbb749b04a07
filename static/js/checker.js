// Checker job page: follow the job's progress until it finishes, then reload for the results.
(function () {
  "use strict";
  var box = document.getElementById("job-progress");
  if (!box || box.getAttribute("data-finished") === "true" || !window.fetch) { return; }
  var url = box.getAttribute("data-progress-url");
  var bar = document.getElementById("job-progress-bar");

  function set(field, value) {
    var el = box.querySelector('[data-field="' + field + '"]');
    if (el) { el.textContent = value; }
  }

  function render(p) {
    bar.value = p.percent;
    bar.textContent = p.percent + " %";
    set("percent", p.percent + " %");
    set("status", p.status_label || p.status);
    set("done", p.done);
    set("total", p.total);
    set("live", p.live);
    set("dead", p.dead);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (p) {
        render(p);
        if (p.finished) {
          Array.prototype.forEach.call(box.querySelectorAll("[data-hide-when-finished]"), function (el) { el.hidden = true; });
          // Show the results table (server-rendered) once the job is over.
          window.setTimeout(function () { window.location.reload(); }, 600);
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
