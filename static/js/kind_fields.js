/* The evaluation start form shows only the fields of the chosen kind: a field's wrapper
   says which kinds it serves (data-kinds="model_alone simulated"); the others are hidden
   (and their inputs disabled, so a hidden field is not sent). Without this script every
   field shows and the kind ignores what it does not use. */
(function () {
  "use strict";
  function update(form) {
    var kind = form.querySelector("[name=kind]");
    if (!kind) return;
    form.querySelectorAll("[data-kinds]").forEach(function (wrapper) {
      var shown = wrapper.dataset.kinds.split(" ").indexOf(kind.value) !== -1;
      wrapper.hidden = !shown;
      wrapper.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !shown;
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("start-run");
    if (!form) return;
    update(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "kind") update(form);
    });
  });
})();
