// Copy buttons: <button data-copy="ID"> copies the text of the element with that id.
"use strict";
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest && ev.target.closest("button[data-copy]");
  if (!btn) return;
  var el = document.getElementById(btn.getAttribute("data-copy"));
  if (!el) return;
  var text = el.textContent;
  var done = function () {
    var old = btn.textContent;
    btn.textContent = "Copied";
    btn.setAttribute("data-copied", "1");
    setTimeout(function () { btn.textContent = old; }, 1500);
  };
  var select = function () {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    btn.textContent = "Selected: press Ctrl+C";
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, select);
  } else {
    select();
  }
});
