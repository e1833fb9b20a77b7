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

// Live sync runs: a <table data-live-users="ID ..."> follows those users' sync streams
// (server-sent events through /portal/users/{id}/sync/stream) and updates the row of a run
// (<tr data-run>), or adds one at the top, on every status event.
(function () {
  var table = document.querySelector("table[data-live-users]");
  if (!table || !window.EventSource) return;
  var body = table.tBodies[0];
  var withUser = table.hasAttribute("data-with-user");
  var fields = ["started", "user", "provider", "source", "status", "stage", "items", "message"]
    .filter(function (f) { return withUser || f !== "user"; });
  var when = function (v) { return v ? v.slice(0, 10) + " " + v.slice(11, 16) : "\u2013"; };
  var set = function (row, field, ev) {
    var td = row.querySelector("td[data-field='" + field + "']");
    if (!td) return;
    td.textContent = "";
    if (field === "status") {
      var span = document.createElement("span");
      span.className = "status " + ev.status;
      span.textContent = ev.status;
      td.appendChild(span);
    } else if (field === "user") {
      var a = document.createElement("a");
      a.href = "/portal/users/" + encodeURIComponent(ev.user_id);
      var code = document.createElement("code");
      code.textContent = String(ev.user_id).slice(0, 8);
      a.appendChild(code);
      td.appendChild(a);
    } else if (field === "message") {
      td.textContent = ev.message || "";
      if (ev.error) {
        td.appendChild(document.createElement("br"));
        var err = document.createElement("span");
        err.className = "error-text";
        err.textContent = ev.error;
        td.appendChild(err);
      }
    } else if (field === "started") {
      td.textContent = when(ev.started_at);
    } else if (field === "items") {
      td.textContent = ev.items_processed == null ? "" : String(ev.items_processed);
    } else {
      td.textContent = ev[field] || "";
    }
  };
  var update = function (ev) {
    var row = null;
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].getAttribute("data-run") === ev.run_id) { row = body.rows[i]; break; }
    }
    if (!row) {
      row = document.createElement("tr");
      row.setAttribute("data-run", ev.run_id);
      fields.forEach(function (f) {
        var td = document.createElement("td");
        td.setAttribute("data-field", f);
        row.appendChild(td);
      });
      body.insertBefore(row, body.firstChild);
    }
    fields.forEach(function (f) {
      if (f !== "started" || ev.started_at) set(row, f, ev);
    });
    row.setAttribute("data-status", ev.status);
    table.setAttribute("data-live-events", String(Number(table.getAttribute("data-live-events") || 0) + 1));
  };
  var streams = table.getAttribute("data-live-users").split(" ").filter(Boolean).slice(0, 3)
    .map(function (user) {
      var es = new EventSource("/portal/users/" + encodeURIComponent(user) + "/sync/stream");
      es.addEventListener("sync.status", function (m) {
        try { update(JSON.parse(m.data)); } catch (e) { /* a malformed event is skipped */ }
      });
      es.addEventListener("open", function () { table.setAttribute("data-live", "open"); });
      return es;
    });
  window.addEventListener("pagehide", function () {
    streams.forEach(function (es) { es.close(); });
  });
})();
