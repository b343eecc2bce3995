/* Participant pages: paste blocking, the confidence slider, one submit per form. No dependencies. */
(function () {
  "use strict";

  // Texts in the participant's language: the page's JSON catalogue (participant_tags), keyed
  // by the English text, which is also the fallback; "%(name)s" filled from `values`.
  var TEXTS = (function () {
    var el = document.getElementById("participant-texts");
    try {
      return el ? JSON.parse(el.textContent) : {};
    } catch (e) {
      return {};
    }
  })();
  function t(text, values) {
    var s = TEXTS[text] || text;
    return s.replace(/%\((\w+)\)s/g, function (all, name) {
      return values && name in values ? String(values[name]) : all;
    });
  }

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
      slider.setAttribute("aria-valuetext", t("%(value)s out of 100", { value: value }));
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

  // --- The task page on narrow screens: the scenario and the step as two tabs -----------
  // (one column and one page scroll; app.css hides the inactive panel). Each tab keeps its
  // own scroll position, so the chat is where it was left; the choice is kept per task for
  // a reload; a reply arriving while the scenario is shown marks the other tab.
  var NARROW = "(max-width: 859px)";

  function store(key, value) {
    try {
      if (value === undefined) return window.sessionStorage.getItem(key);
      window.sessionStorage.setItem(key, value);
    } catch (err) { /* storage off: the default tab each time */ }
    return null;
  }

  function taskTabs(layout) {
    var tablist = layout.querySelector("[data-tablist]");
    if (!tablist) return;
    var tabs = Array.prototype.slice.call(tablist.querySelectorAll("[data-tab]"));
    var panels = {};
    layout.querySelectorAll("[data-tab-panel]").forEach(function (panel) {
      panels[panel.getAttribute("data-tab-panel")] = panel;
    });
    var key = "studyapp-tab:" + window.location.pathname + ":" + layout.getAttribute("data-task-tabs");
    var badge = tablist.querySelector("[data-tab-badge]");
    var scrolls = {};
    var active = null;
    var media = window.matchMedia(NARROW);

    function tabFor(name) {
      return tabs.filter(function (t) { return t.getAttribute("data-tab") === name; })[0];
    }

    function layoutTop() {
      // The layout, not the tabs: those stick to the top of the screen.
      return layout.getBoundingClientRect().top + window.scrollY;
    }

    function select(name, options) {
      options = options || {};
      if (!panels[name]) return;
      if (active && active !== name) scrolls[active] = window.scrollY;
      var first = active === null;
      active = name;
      tabs.forEach(function (tab) {
        var on = tab.getAttribute("data-tab") === name;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.tabIndex = on ? 0 : -1;
      });
      Object.keys(panels).forEach(function (panelName) {
        panels[panelName].classList.toggle("tab-active", panelName === name);
      });
      if (name === "task" && badge) badge.hidden = true;
      store(key, name);
      if (first || options.keepScroll) return;
      if (scrolls[name] !== undefined) {
        window.scrollTo(0, scrolls[name]);
        return;
      }
      // First visit of a tab: a chat's newest message just above its box (held at the
      // bottom of the screen), else the tab's top.
      var log = panels[name].querySelector("[data-chat-log]");
      var chatForm = panels[name].querySelector("[data-chat-form]");
      var overhang = 0;
      if (log) {
        var formHeight = chatForm ? chatForm.getBoundingClientRect().height : 0;
        overhang = log.getBoundingClientRect().bottom - (window.innerHeight - formHeight);
      }
      if (overhang > 0) {
        window.scrollBy(0, overhang);
      } else if (window.scrollY > layoutTop()) {
        window.scrollTo(0, layoutTop());
      }
    }

    function apply() {
      var narrow = media.matches;
      layout.classList.toggle("tabbed", narrow);
      tablist.hidden = !narrow;
      Object.keys(panels).forEach(function (name) {
        var panel = panels[name];
        if (narrow) {
          panel.setAttribute("role", "tabpanel");
          panel.setAttribute("aria-labelledby", "tab-" + name);
        } else {
          panel.removeAttribute("role");
          panel.removeAttribute("aria-labelledby");
        }
      });
    }

    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () { select(tab.getAttribute("data-tab")); });
      tab.addEventListener("keydown", function (event) {
        var i = tabs.indexOf(tab);
        var next = null;
        if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
        if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
        if (event.key === "Home") next = tabs[0];
        if (event.key === "End") next = tabs[tabs.length - 1];
        if (!next) return;
        event.preventDefault();
        select(next.getAttribute("data-tab"));
        next.focus();
      });
    });
    layout.querySelectorAll("[data-tab-go]").forEach(function (button) {
      button.addEventListener("click", function () {
        var name = button.getAttribute("data-tab-go");
        select(name);
        var tab = tabFor(name);
        if (tab) tab.focus({ preventScroll: true });
      });
    });

    var log = panels.task && panels.task.querySelector("[data-chat-log]");
    if (log && badge) {
      new MutationObserver(function (records) {
        if (!media.matches || active === "task") return;
        records.forEach(function (record) {
          record.addedNodes.forEach(function (node) {
            if (node.classList && node.classList.contains("msg-streaming")) badge.hidden = false;
          });
        });
      }).observe(log, { childList: true });
    }

    // Errors are in the step: show it. Otherwise the tab last used for this task, or the
    // scenario (read it first).
    var hasErrors = panels.task && panels.task.querySelector("[data-error-summary]");
    var initial = hasErrors ? "task" : store(key) || "scenario";
    apply();
    select(panels[initial] ? initial : "scenario");
    if (media.addEventListener) media.addEventListener("change", apply);
  }

  // A form sent back with errors: the summary is focused and scrolled into view (below
  // the sticky tabs), not left far down the page with the focus on the body.
  function focusErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
    summary.setAttribute("tabindex", "-1");
    summary.focus({ preventScroll: true });
    summary.scrollIntoView({ block: "start" });
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
    wire(root, "[data-task-tabs]", taskTabs);
    wire(root, "form[data-submit-once]", submitOnce);
    wire(root, "form[data-auto-submit-after]", autoSubmit);
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    focusErrorSummary();
  });
  // Content swapped in by htmx (e.g. the chat partial) is wired too.
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt.parentNode || document); });
})();
