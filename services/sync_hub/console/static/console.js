// Keyboard decisions on a review case: 1-9 pick candidate N, 0 or N picks "no link", S skips to the next case;
// the focus then moves to the reason box, and Enter there saves. Keys typed into a text box are left alone.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var form = document.getElementById("decide");
    if (!form || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" && target.type === "text" || target.tagName === "TEXTAREA" ||
                   target.tagName === "SELECT")) return;
    var key = event.key.toLowerCase();
    if (key === "s") {
      var skip = document.querySelector("[data-skip]");
      if (skip) { event.preventDefault(); window.location.href = skip.getAttribute("href"); }
      return;
    }
    if (key === "n") key = "0";
    var radio = form.querySelector('input[type=radio][data-key="' + key + '"]');
    if (radio) {
      event.preventDefault();
      radio.checked = true;
      var reason = document.getElementById("reason");
      if (reason) reason.focus();
    }
  });
})();
