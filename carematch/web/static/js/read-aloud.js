// Read the top offer aloud (elderly mode), where the browser offers speech synthesis.
// Without it the button stays hidden: nothing on the page depends on it.
(function () {
  "use strict";
  var button = document.getElementById("read-aloud");
  var text = document.getElementById("speak-text");
  if (!button || !text || !("speechSynthesis" in window)) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    window.speechSynthesis.cancel();
    var utterance = new SpeechSynthesisUtterance(text.textContent.trim());
    utterance.lang = button.dataset.lang === "en" ? "en-US" : "zh-CN";
    utterance.rate = 0.85; // a little slower than default, for older listeners
    window.speechSynthesis.speak(utterance);
    button.setAttribute("aria-pressed", "true");
    utterance.onend = function () {
      button.setAttribute("aria-pressed", "false");
    };
  });
})();
