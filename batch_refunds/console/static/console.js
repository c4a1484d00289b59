// The console's only script: drag-and-drop onto the upload form, and live progress.
"use strict";
(function () {
  var drop = document.getElementById("drop");
  var input = document.getElementById("file");
  if (drop && input) {
    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        document.getElementById("upload-form").submit();
      }
    });
  }
  var box = document.getElementById("progress");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  function set(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (!p.active) { window.location.reload(); return; }
        set("p-phase", p.phase); set("p-rows", p.rows); set("p-yen", p.refunded);
        set("p-rate", p.rate); set("p-eta", p.eta); set("p-requests", p.requests);
        var bar = document.getElementById("p-bar");
        if (bar) { bar.max = Math.max(p.total, 1); bar.value = p.done; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
