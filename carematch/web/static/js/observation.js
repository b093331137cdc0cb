// Counts down the observation time of each person on /workbench/vaccination/observation.
// Without script the page shows the minutes left when it was rendered and reloads every 30 s.
(function () {
  "use strict";
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".obs-left[data-until]").forEach(function (el) {
      var left = Math.max(0, Math.floor((Date.parse(el.dataset.until) - now) / 1000));
      el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      if (left === 0) { el.closest("li").classList.add("obs-done"); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
