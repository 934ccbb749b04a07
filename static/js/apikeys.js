// API Keys page enhancements; the page works without this file (server-side search, sort, dialogs).
(function () {
  "use strict";
  var main = document.getElementById("apikeys-main");
  var dialogs = Array.prototype.slice.call(document.querySelectorAll("dialog"));

  // While a dialog is open the page behind it is hidden from assistive technology, so
  // "Create API Key" or "Revoke" name one button only: the one in the dialog.
  function syncBackground() {
    if (!main) { return; }
    var anyOpen = dialogs.some(function (d) { return d.open; });
    if (anyOpen) { main.setAttribute("aria-hidden", "true"); } else { main.removeAttribute("aria-hidden"); }
  }
  if (window.MutationObserver) {
    var observer = new MutationObserver(syncBackground);
    dialogs.forEach(function (d) { observer.observe(d, { attributes: true, attributeFilter: ["open"] }); });
  }
  dialogs.forEach(function (d) { d.addEventListener("close", syncBackground); });
  syncBackground();

  // The one-time key leaves the page as soon as its dialog closes (Escape included).
  var secretDialog = document.querySelector("dialog[data-one-time-secret]");
  if (secretDialog) {
    secretDialog.addEventListener("close", function () {
      // portal.js re-opens server-opened dialogs as modal (close() then showModal()); the close
      // event of that hand-over arrives while the dialog is open again and must be ignored.
      if (secretDialog.open || !secretDialog.parentNode) { return; }
      secretDialog.parentNode.removeChild(secretDialog);
      dialogs = dialogs.filter(function (d) { return d !== secretDialog; });
      syncBackground();
    });
  }

  // Clicking anywhere in a sortable header follows its link.
  document.querySelectorAll("th[data-sortable]").forEach(function (th) {
    th.addEventListener("click", function (event) {
      var link = th.querySelector("a");
      if (link && !event.target.closest("a")) { window.location.href = link.href; }
    });
  });

  // Live filter by name as you type; submitting the form filters on the server.
  var search = document.querySelector("input[data-live-filter]");
  if (search) {
    var table = document.querySelector(search.getAttribute("data-live-filter"));
    var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-name]")) : [];
    search.addEventListener("input", function () {
      var needle = search.value.trim().toLowerCase();
      rows.forEach(function (row) {
        row.hidden = needle !== "" && row.getAttribute("data-name").indexOf(needle) === -1;
      });
    });
  }
})();
