/* The new-study form's "Other languages" leave out the first language: its box is hidden
   and disabled (a disabled box is not sent, and is as it was, ticked or not, when the
   first language changes again). Without this script every language shows and the form
   says beside the field when the first one is ticked again (StudyNewForm.clean). */
(function () {
  "use strict";
  function update(first, boxes) {
    boxes.forEach(function (box) {
      var same = box.value === first.value;
      box.disabled = same;
      // Django puts each box in its label, in a div of its own.
      var label = box.closest("label");
      (label ? label.parentElement : box).hidden = same;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      var first = form.querySelector("select[data-first-language]");
      var boxes = form.querySelectorAll("input[type=checkbox][data-other-languages]");
      if (!first || !boxes.length) return;
      update(first, boxes);
      first.addEventListener("change", function () { update(first, boxes); });
    });
  });
})();
