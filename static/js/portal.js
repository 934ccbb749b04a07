// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Auto-submit selects (account switcher).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // Copy buttons: <button data-copy="#element-id">Copy</button>
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var target = document.querySelector(button.getAttribute("data-copy"));
      if (!target) { return; }
      var text = target.value !== undefined && target.tagName === "INPUT" ? target.value : target.textContent.trim();
      var done = function () { var old = button.textContent; button.textContent = "Copied"; setTimeout(function () { button.textContent = old; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
      } else { fallbackCopy(text); done(); }
    });
  });
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "absolute"; area.style.left = "-9999px";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* ignore */ }
    document.body.removeChild(area);
  }
  // Dialog openers: <button data-dialog-open="dialog-id">; closers: <button data-dialog-close>.
  document.querySelectorAll("[data-dialog-open]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var dialog = document.getElementById(button.getAttribute("data-dialog-open"));
      if (dialog && dialog.showModal) { event.preventDefault(); dialog.showModal(); }
    });
  });
  document.querySelectorAll("[data-dialog-close]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var dialog = button.closest("dialog");
      if (dialog) { event.preventDefault(); dialog.close(); }
    });
  });
  // Dialogs rendered open by the server (e.g. a one-time secret) become modal.
  document.querySelectorAll("dialog[data-open-on-load]").forEach(function (dialog) {
    if (dialog.showModal) { if (dialog.open) { dialog.close(); } dialog.showModal(); }
  });
})();
