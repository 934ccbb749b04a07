// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // The Menu button (below the sidebar's breakpoint) opens and closes the navigation.
  document.querySelectorAll("[data-menu-toggle]").forEach(function (button) {
    var menu = document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) { return; }
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("show", open);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.classList.contains("show")) {
        menu.classList.remove("show"); button.setAttribute("aria-expanded", "false"); button.focus();
      }
    });
  });
  // Auto-submit selects (account switcher); their submit button is then not needed.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
    var submit = select.form.querySelector("[data-autosubmit-button]");
    if (submit) { submit.hidden = true; }
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
