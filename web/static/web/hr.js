// Live parts of the HR pages. An element with data-poll-seconds="N" and hx-trigger="poll"
// refreshes every N seconds while the page is visible, and at once when it becomes visible
// again: a hidden tab asks the server for nothing. No inline script, so the CSP stays strict.
(function () {
  "use strict";
  function pollAll() {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    document.querySelectorAll("[data-poll-seconds]").forEach(function (element) {
      var every = 1000 * Number(element.getAttribute("data-poll-seconds"));
      var last = Number(element.getAttribute("data-polled-at") || 0);
      if (Date.now() - last >= every) {
        element.setAttribute("data-polled-at", String(Date.now()));
        window.htmx.trigger(element, "poll");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll-seconds]").forEach(function (element) {
      element.setAttribute("data-polled-at", String(Date.now()));
    });
    window.setInterval(pollAll, 1000);
  });
  document.addEventListener("visibilitychange", pollAll);
})();
