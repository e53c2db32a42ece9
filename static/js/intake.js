// The new report: "add another victim / account" copies the formset's empty form (Django's
// __prefix__ rows in a <template>) and counts it in the management form. Without JavaScript
// the buttons stay hidden and the page offers one victim and three accounts per submit.
(function () {
  "use strict";
  document.querySelectorAll("[data-add-part]").forEach(function (button) {
    var prefix = button.getAttribute("data-add-part");
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    var max = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
    var template = document.getElementById(prefix + "-empty");
    var parts = document.querySelector('[data-parts="' + prefix + '"]');
    if (!total || !template || !parts) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      if (max && index >= parseInt(max.value, 10)) return;
      var html = template.innerHTML
        .replace(/__prefix__/g, String(index))
        .replace(/__number__/g, String(index + 1));
      parts.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      var added = parts.lastElementChild;
      var first = added.querySelector("input, select, textarea");
      if (first) first.focus();
    });
  });
})();
