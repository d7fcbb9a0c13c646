// Progressive enhancement only: every page works without this script.
// On result lists, count the trials ticked for comparison and keep the button's label current.
(function () {
  "use strict";
  function refresh(form) {
    var ticked = form.querySelectorAll('input[type=checkbox][name=ids]:checked').length;
    var button = form.querySelector('button[type=submit]');
    if (!button) { return; }
    if (!button.dataset.label) { button.dataset.label = button.textContent; }
    button.disabled = ticked < 2 && !form.querySelector('input[type=hidden][name=ids]');
    button.textContent = button.dataset.label + (ticked ? " (" + ticked + ")" : "");
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll('form[action="/compare"]').forEach(function (form) {
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
    });
  });
})();
