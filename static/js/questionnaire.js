/* Questionnaire pages: an item with a display condition shows only while the answer it
   depends on is among its values. No reload; without this script every item shows and the
   server ignores answers to items whose condition is not met. */
(function () {
  "use strict";
  var form = document.getElementById("questionnaire-form");
  if (!form) return;
  var items = Array.prototype.slice.call(form.querySelectorAll("[data-condition-name]"));
  if (!items.length) return;

  function answers(name) {
    var values = [];
    form.querySelectorAll("input[name='" + name + "']").forEach(function (input) {
      if (input.checked) values.push(input.value);
    });
    return values;
  }

  function isShown(item) {
    var source = form.querySelector("input[name='" + item.getAttribute("data-condition-name") + "']");
    // An item whose source is itself hidden is hidden too (its answer does not count).
    var sourceItem = source ? source.closest(".q-item") : null;
    if (sourceItem && sourceItem.hidden) return false;
    var wanted;
    try {
      wanted = JSON.parse(item.getAttribute("data-condition-values") || "[]");
    } catch (e) {
      return true;
    }
    return answers(item.getAttribute("data-condition-name")).some(function (v) {
      return wanted.indexOf(v) !== -1;
    });
  }

  function update() {
    // In page order, so a chain of conditions settles in one pass.
    items.forEach(function (item) {
      item.hidden = !isShown(item);
    });
  }

  form.addEventListener("change", update);
  update();
})();
