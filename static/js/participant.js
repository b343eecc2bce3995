/* Participant pages: paste blocking, the confidence slider, one submit per form. No dependencies. */
(function () {
  "use strict";

  // Own words only (SCIENCE.md): paste and drag-and-drop are refused, with a visible note.
  function blockPaste(el) {
    var note = el.dataset.pasteNote ? document.getElementById(el.dataset.pasteNote) : null;
    function refuse(event) {
      event.preventDefault();
      if (note) {
        note.hidden = false;
        note.classList.add("paste-refused");
        note.setAttribute("role", "alert");
      }
    }
    el.addEventListener("paste", refuse);
    el.addEventListener("drop", refuse);
  }

  // Confidence without an anchor: the slider has no thumb until it is moved, the number
  // box (the form's field) is empty until then; each follows the other.
  function confidence(box) {
    var row = box.querySelector("[data-confidence-slider-row]");
    var slider = box.querySelector("[data-confidence-slider]");
    var number = box.querySelector("[data-confidence-number]");
    if (!row || !slider || !number) return;
    function markSet(value) {
      slider.classList.remove("slider-unset");
      slider.setAttribute("aria-valuetext", value + " out of 100");
    }
    function fromNumber() {
      var value = parseInt(number.value, 10);
      if (number.value === "" || isNaN(value) || value < 0 || value > 100) return;
      slider.value = String(value);
      markSet(value);
    }
    slider.addEventListener("input", function () {
      number.value = slider.value;
      markSet(slider.value);
    });
    number.addEventListener("input", fromNumber);
    fromNumber(); // a form shown again after an error keeps what they set
    row.hidden = false;
  }

  // A step that cannot be undone asks first: the button opens a confirmation in place
  // (not window.confirm: it is keyboard- and screen-reader-friendly, and styled).
  function confirmFirst(form) {
    var ask = form.querySelector("[data-confirm-ask]");
    var box = form.querySelector("[data-confirm-box]");
    if (!ask || !box) return;
    var yes = box.querySelector("[data-confirm-yes]");
    var no = box.querySelector("[data-confirm-no]");
    function show(open) {
      box.hidden = !open;
      ask.hidden = open;
      ask.setAttribute("aria-expanded", open ? "true" : "false");
      (open ? yes : ask).focus();
    }
    ask.addEventListener("click", function (event) {
      event.preventDefault();
      if (!ask.disabled) show(true);
    });
    if (no) no.addEventListener("click", function () { show(false); });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Escape") show(false);
    });
    // Whoever may disable the step (the chat, while a reply is coming) closes the question.
    new MutationObserver(function () {
      if (ask.disabled && !box.hidden) {
        box.hidden = true;
        ask.hidden = false;
        ask.setAttribute("aria-expanded", "false");
      }
    }).observe(ask, { attributes: true, attributeFilter: ["disabled"] });
  }

  // A double click must not send a form twice (the server is idempotent anyway).
  function submitOnce(form) {
    form.addEventListener("submit", function () {
      // Later than the submit event, so the pressed button's name still goes along.
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  }

  // The busy page's entry form tries again by itself once the Retry-After has passed.
  function autoSubmit(form) {
    var seconds = parseInt(form.dataset.autoSubmitAfter, 10);
    if (!(seconds >= 0)) return;
    window.setTimeout(function () {
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }, seconds * 1000);
  }

  function wire(root, selector, fn) {
    root.querySelectorAll(selector).forEach(function (el) {
      if (el.dataset.wired && el.dataset.wired.indexOf(selector) !== -1) return;
      el.dataset.wired = (el.dataset.wired || "") + selector;
      fn(el);
    });
  }

  function init(root) {
    wire(root, "[data-no-paste]", blockPaste);
    wire(root, "[data-confidence]", confidence);
    wire(root, "form[data-confirm]", confirmFirst);
    wire(root, "form[data-submit-once]", submitOnce);
    wire(root, "form[data-auto-submit-after]", autoSubmit);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  // Content swapped in by htmx (e.g. the chat partial) is wired too.
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt.parentNode || document); });
})();
