// The header's bell (templates/funds/_notice_bell.html): htmx polls it; this keeps the page's
// title prefixed with "(n) " while notices are unread, and says so in the live region when
// new ones arrive. It also owns the title for the page's other scripts (inbox.js).
(function () {
  "use strict";
  var base = document.title.replace(/^\(\d+\) /, "");
  var unread = null;
  var alertText = "";

  function render() {
    document.title = (alertText ? alertText + " " : "") + (unread > 0 ? "(" + unread + ") " : "") + base;
  }

  window.Casetracker = window.Casetracker || {};
  window.Casetracker.title = {
    // A short text put before the title until cleared (e.g. "[New stop-payment]").
    alert: function (text) { alertText = text || ""; render(); }
  };

  function readBell() {
    var link = document.querySelector("#notice-bell a[data-unread]");
    if (!link) { return; }
    var count = parseInt(link.dataset.unread, 10) || 0;
    if (unread !== null && count > unread) {
      var live = document.getElementById("notice-live");
      if (live) { live.textContent = link.dataset.announce || ""; }
    }
    unread = count;
    render();
  }

  function start() {
    readBell();
    document.body.addEventListener("htmx:afterSettle", readBell);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
