/* studyapp chat widget: plain JavaScript, no framework.
 *
 * Talks to ChatConsumer (studyapp/chat/consumers.py) over a WebSocket. The server escapes
 * every piece of text it sends ("html" fields); the page decodes them back to text in an
 * inert document and never inserts them as markup. The participant's own text is only ever
 * set with textContent; the model's is markdown, rendered by markdown-it (raw HTML off) and
 * cleaned by DOMPurify with the server's allow-list (studyapp/chat/rendering.py), while it
 * streams (re-rendered at most every RENDER_INTERVAL_MS) and once complete.
 */
(function () {
  "use strict";

  var CLOSE_FORBIDDEN = 4403;
  var CLOSE_NOT_FOUND = 4404;
  var MAX_BACKOFF_MS = 15000;
  var RENDER_INTERVAL_MS = 100;

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

  // --- text and markdown ---------------------------------------------------------------

  // The server's escaped text back to text. A DOMParser document runs no script and loads
  // nothing, whatever it is given.
  var decoder = new DOMParser();
  function textFromEscaped(html) {
    if (!html) return "";
    return decoder.parseFromString("<!doctype html><body>" + html, "text/html").body.textContent;
  }

  function readPolicy() {
    var el = document.getElementById("chat-markdown-policy");
    if (!el) return null;
    try {
      return JSON.parse(el.textContent);
    } catch (err) {
      return null;
    }
  }

  // A function from markdown to a sanitized DocumentFragment, or null when a library did
  // not load (replies are then shown as plain text).
  function makeRenderer(policy) {
    if (!policy || typeof window.markdownit !== "function" || typeof window.DOMPurify !== "function") {
      return null;
    }
    var purifier = window.DOMPurify(window);
    if (!purifier.isSupported) return null;
    var md = window.markdownit("default", policy.parser);
    var linkRe = new RegExp("^\\s*(?:" + policy.url_schemes.join("|") + "):", "i");
    md.validateLink = function (url) { return linkRe.test(url); };
    // Table column alignment as a class, not a style (rendering.py's _alignment_as_class).
    var alignClasses = policy.align_classes || {};
    md.core.ruler.push("align_classes", function (state) {
      state.tokens.forEach(function (token) {
        if (token.type !== "th_open" && token.type !== "td_open") return;
        var style = token.attrGet("style");
        if (style === null) return;
        token.attrs = token.attrs.filter(function (attr) { return attr[0] !== "style"; });
        var match = /^text-align:(left|center|right)$/.exec(style);
        if (match && alignClasses[match[1]]) token.attrSet("class", alignClasses[match[1]]);
      });
    });
    var perTag = policy.attributes || {};
    var perTagClasses = policy.classes || {};
    var anyTag = [];
    Object.keys(perTag).forEach(function (tag) {
      perTag[tag].forEach(function (name) { if (anyTag.indexOf(name) === -1) anyTag.push(name); });
    });
    if (Object.keys(perTagClasses).length) anyTag.push("class");
    // DOMPurify allows attributes on every tag; the server's list is per tag, and a class
    // attribute keeps only the tag's allowed classes (or goes, as nh3's filter does).
    purifier.addHook("uponSanitizeAttribute", function (node, data) {
      var tag = node.nodeName.toLowerCase();
      if (data.attrName === "class" && perTagClasses[tag]) {
        var kept = data.attrValue.split(/\s+/).filter(function (name) {
          return perTagClasses[tag].indexOf(name) !== -1;
        });
        data.attrValue = kept.join(" ");
        if (!kept.length) data.keepAttr = false;
        return;
      }
      if ((perTag[tag] || []).indexOf(data.attrName) === -1) {
        data.keepAttr = false;
      }
    });
    purifier.addHook("afterSanitizeAttributes", function (node) {
      if (node.nodeName === "A") {
        node.setAttribute("target", policy.link_target);
        node.setAttribute("rel", policy.link_rel);
      }
    });
    var config = {
      ALLOWED_TAGS: policy.tags,
      ALLOWED_ATTR: anyTag,
      ALLOWED_URI_REGEXP: linkRe,
      ALLOW_DATA_ATTR: false,
      ALLOW_ARIA_ATTR: false,
      RETURN_DOM_FRAGMENT: true
    };
    return function (text) { return purifier.sanitize(md.render(text), config); };
  }

  var renderMarkdown = null;

  function newClientId() {
    // crypto.randomUUID() needs a secure origin; getRandomValues works everywhere.
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    var hex = "";
    for (var j = 0; j < bytes.length; j++) hex += ("0" + bytes[j].toString(16)).slice(-2);
    return hex;
  }

  function initChat(root) {
    var log = root.querySelector("[data-chat-log]");
    var form = root.querySelector("[data-chat-form]");
    var input = root.querySelector("[data-chat-input]");
    var sendButton = root.querySelector("[data-chat-send]");
    var statusLine = root.querySelector("[data-chat-status]");
    var retryButton = root.querySelector("[data-chat-retry]");
    // "Leave the study: technical problem": a plain form POST, shown when a frame says
    // technical_exit (the model failed the study's number of replies in a row); it asks
    // first in place, as Finish does (participant.js's confirmFirst).
    var technicalExit = root.querySelector("[data-chat-technical-exit]");
    var technicalExitButton = root.querySelector("[data-chat-technical-exit-button]");
    var turnsLabel = root.querySelector("[data-chat-turns]");
    var charsLabel = root.querySelector("[data-chat-chars]");
    var pasteNote = root.querySelector("[data-chat-paste-note]");
    var finishButton = root.querySelector("[data-chat-finish-button]");
    var maxChars = parseInt(root.getAttribute("data-max-chars"), 10) || 2000;

    var state = {
      ws: null,
      open: false,
      closedForGood: false,
      attempts: 0,
      reconnectTimer: null,
      historyTimer: null,
      // The participant's message not yet acknowledged: {clientId, text, el}.
      pending: null,
      // A reply streaming to this page: {seq, el, body}.
      stream: null,
      waitingForReply: false,
      serverInFlight: false,
      active: true,
      turnsUsed: 0,
      maxTurns: parseInt(root.getAttribute("data-max-turns"), 10) || 0,
      canFinish: false,
      canRetry: false,
      technicalExit: false,
      lastError: ""
    };

    // --- rendering -------------------------------------------------------------------

    function setStatus(text, isError) {
      statusLine.textContent = text || "";
      statusLine.classList.toggle("error", !!isError);
    }

    // On wide screens the log scrolls inside the card; on phones the page is the one scroll
    // (app.css), and "the bottom" is where the log ends above the message box.
    function logScrolls() {
      var overflow = window.getComputedStyle(log).overflowY;
      return overflow === "auto" || overflow === "scroll";
    }

    function pageOverhang() {
      var visibleBottom = window.innerHeight;
      var formTop = form.getBoundingClientRect().top;
      if (formTop > 0 && formTop < visibleBottom) visibleBottom = formTop;
      return log.getBoundingClientRect().bottom - visibleBottom;
    }

    function nearBottom() {
      if (!log.offsetParent) return false; // not shown (the scenario tab is open)
      if (logScrolls()) return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
      return pageOverhang() < 80;
    }

    function scrollDown(force) {
      if (!force && !nearBottom()) return;
      if (logScrolls()) {
        log.scrollTop = log.scrollHeight;
      } else if (log.offsetParent) {
        var overhang = pageOverhang();
        if (overhang > 0) window.scrollBy(0, overhang);
      }
    }

    function clearEmptyNote() {
      var empty = log.querySelector("[data-chat-empty]");
      if (empty) empty.remove();
    }

    function statusNote(status) {
      if (status === "interrupted") return t("Reply interrupted.");
      if (status === "error") return t("Reply failed.");
      return "";
    }

    function makeMessage(role, status) {
      var el = document.createElement("div");
      el.className = "msg msg-" + role;
      if (status === "interrupted") el.classList.add("msg-interrupted");
      if (status === "error") el.classList.add("msg-error");
      var body = document.createElement("div");
      body.className = "msg-body";
      el.appendChild(body);
      var note = statusNote(status);
      if (note) markFailed(el, status);
      return { el: el, body: body };
    }

    function markFailed(el, status) {
      el.classList.add(status === "error" ? "msg-error" : "msg-interrupted");
      if (!el.querySelector(".msg-status")) {
        var s = document.createElement("span");
        s.className = "msg-status";
        s.textContent = statusNote(status) || t("Reply failed.");
        el.appendChild(s);
      }
    }

    function showText(body, role, text) {
      var asMarkdown = role === "assistant" && !!renderMarkdown;
      body.classList.toggle("md", asMarkdown);
      if (asMarkdown) {
        body.replaceChildren(renderMarkdown(text));
      } else {
        body.textContent = text;
      }
    }

    function appendServerMessage(m) {
      var parts = makeMessage(m.role, m.status);
      var text = textFromEscaped(m.html);
      showText(parts.body, m.role, text);
      if (m.role === "assistant" && m.status === "streaming" && !text) {
        parts.body.textContent = "…";
      }
      log.appendChild(parts.el);
      return parts;
    }

    // A streaming reply is re-rendered whole from its text so far (markdown changes
    // meaning as it grows: a line becomes a table row), at most every RENDER_INTERVAL_MS.
    function renderStream(stream) {
      clearTimeout(stream.renderTimer);
      stream.renderTimer = null;
      stream.renderedAt = Date.now();
      var follow = nearBottom();
      showText(stream.body, "assistant", stream.text);
      if (follow) scrollDown(true);
    }

    function scheduleRender(stream) {
      if (stream.renderTimer) return;
      var wait = Math.max(0, stream.renderedAt + RENDER_INTERVAL_MS - Date.now());
      stream.renderTimer = setTimeout(function () { renderStream(stream); }, wait);
    }

    function endStream(stream) {
      if (stream.renderTimer || stream.renderedAt === 0) renderStream(stream);
      stream.el.classList.remove("msg-streaming");
      stream.el.removeAttribute("aria-busy");
    }

    function appendOwnMessage(text) {
      var parts = makeMessage("user", "complete");
      parts.body.textContent = text;
      parts.el.classList.add("msg-pending");
      parts.el.setAttribute("aria-busy", "true");
      clearEmptyNote();
      log.appendChild(parts.el);
      scrollDown(true);
      return parts.el;
    }

    function renderHistory(frame) {
      log.textContent = "";
      var stored = false;
      frame.messages.forEach(function (m) {
        appendServerMessage(m);
        if (state.pending && m.client_id === state.pending.clientId) stored = true;
      });
      if (!frame.messages.length && !state.pending) {
        var p = document.createElement("p");
        p.className = "muted small chat-empty";
        p.setAttribute("data-chat-empty", "");
        p.textContent = t("No messages yet. Describe your situation in your own words.");
        log.appendChild(p);
      }
      if (state.pending) {
        if (stored) {
          // It reached the server before the connection dropped: no resend needed.
          state.pending = null;
        } else {
          state.pending.el = appendOwnMessage(state.pending.text);
          transmitPending();
        }
      }
      scrollDown(true);
    }

    function updateTurns(frame) {
      if (typeof frame.turns_used === "number") state.turnsUsed = frame.turns_used;
      if (typeof frame.max_turns === "number") state.maxTurns = frame.max_turns;
      if (typeof frame.can_finish === "boolean") state.canFinish = frame.can_finish;
      if (typeof frame.can_retry === "boolean") state.canRetry = frame.can_retry;
      if (typeof frame.technical_exit === "boolean") state.technicalExit = frame.technical_exit;
      turnsLabel.textContent =
        t("%(used)s of %(max)s messages used", { used: state.turnsUsed, max: state.maxTurns });
    }

    function busy() {
      return !!(state.pending || state.stream || state.waitingForReply || state.serverInFlight);
    }

    function updateControls() {
      var outOfTurns = state.maxTurns > 0 && state.turnsUsed >= state.maxTurns;
      var canType = state.open && state.active && !state.closedForGood;
      input.disabled = !canType || outOfTurns;
      sendButton.disabled = !canType || outOfTurns || busy();
      retryButton.hidden = !(canType && state.canRetry && !busy());
      // Needs no socket (it is a form), so a chat that cannot connect still offers it.
      if (technicalExit) {
        var exitOffered = state.technicalExit && state.active && !busy();
        technicalExit.hidden = !exitOffered;
        // Disabled while not offered, which also closes an open "Leave the study?"
        // (confirmFirst closes it when its button is disabled), so it never reappears open.
        if (technicalExitButton) technicalExitButton.disabled = !exitOffered;
      }
      if (finishButton) finishButton.disabled = !state.canFinish || busy();
      if (outOfTurns && canType && !busy() && !statusLine.classList.contains("error")) {
        setStatus(t("You have used all your messages. Press Finish to go on to the questions."));
      }
    }

    function updateCounter() {
      var n = input.value.length;
      charsLabel.textContent = n + " / " + maxChars;
      charsLabel.classList.toggle("error", n > maxChars * 0.9);
    }

    // --- socket ----------------------------------------------------------------------

    function socketUrl() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      return scheme + window.location.host + root.getAttribute("data-ws-path");
    }

    function connect() {
      if (state.closedForGood) return;
      clearTimeout(state.reconnectTimer);
      var ws;
      try {
        ws = new WebSocket(socketUrl());
      } catch (err) {
        scheduleReconnect();
        return;
      }
      state.ws = ws;
      ws.onopen = function () {
        state.open = true;
        state.attempts = 0;
        setStatus("");
        updateControls();
      };
      ws.onmessage = function (event) {
        var frame;
        try {
          frame = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        handleFrame(frame);
      };
      ws.onclose = function (event) {
        if (state.ws !== ws) return;
        state.open = false;
        state.ws = null;
        if (state.stream) {
          endStream(state.stream);
          markFailed(state.stream.el, "interrupted");
          state.stream = null;
        }
        state.waitingForReply = false;
        if (event.code === CLOSE_FORBIDDEN || event.code === CLOSE_NOT_FOUND) {
          state.closedForGood = true;
          setStatus(state.lastError || t("This chat is closed. Please reload the page."), true);
        } else {
          scheduleReconnect();
        }
        updateControls();
      };
    }

    function scheduleReconnect() {
      if (state.closedForGood) return;
      var delay = Math.min(1000 * Math.pow(2, state.attempts), MAX_BACKOFF_MS);
      delay = delay / 2 + Math.random() * (delay / 2);
      state.attempts += 1;
      setStatus(t("Connection lost. Reconnecting…"), true);
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = setTimeout(connect, delay);
    }

    function sendFrame(frame) {
      if (!state.ws || !state.open) return false;
      state.ws.send(JSON.stringify(frame));
      return true;
    }

    function transmitPending() {
      if (!state.pending) return;
      if (!sendFrame({ type: "send", client_id: state.pending.clientId, text: state.pending.text })) {
        setStatus(t("Not connected. Your message will be sent when the connection is back."), true);
      }
    }

    function requestHistorySoon() {
      clearTimeout(state.historyTimer);
      state.historyTimer = setTimeout(function () {
        if (!state.stream) sendFrame({ type: "history" });
      }, 2000);
    }

    // --- frames ----------------------------------------------------------------------

    function handleFrame(frame) {
      switch (frame.type) {
        case "history":
          state.active = frame.active !== false;
          state.serverInFlight = !!frame.in_flight && !state.stream;
          renderHistory(frame);
          updateTurns(frame);
          if (!state.active) {
            setStatus(t("This part of the study is finished, so the chat is closed."));
          } else if (state.serverInFlight) {
            setStatus(t("The assistant is still finishing a reply…"));
            requestHistorySoon();
          } else if (frame.can_retry) {
            setStatus(
              frame.technical_exit
                ? t("The last reply did not finish. You can try again, or leave the study below.")
                : t("The last reply did not finish. You can try again."),
              true
            );
          }
          break;
        case "ack":
          if (state.pending && state.pending.clientId === frame.client_id) {
            state.pending.el.classList.remove("msg-pending");
            state.pending.el.removeAttribute("aria-busy");
            state.pending = null;
            // A duplicate was stored earlier; a "start" frame follows only if its reply
            // never began.
            state.waitingForReply = !frame.duplicate;
            setStatus(frame.duplicate ? "" : t("The assistant is replying…"));
          }
          break;
        case "start":
          state.waitingForReply = false;
          state.canRetry = false;
          state.serverInFlight = false;
          var parts = makeMessage("assistant", "streaming");
          parts.el.classList.add("msg-streaming");
          // Assistive technology reads the reply once it is complete, not every re-render.
          parts.el.setAttribute("aria-busy", "true");
          clearEmptyNote();
          log.appendChild(parts.el);
          state.stream = {
            seq: frame.seq, el: parts.el, body: parts.body, renderTimer: null, renderedAt: 0,
            // A start frame may carry the text so far (a reply joined after it began).
            text: textFromEscaped(frame.html || "")
          };
          if (state.stream.text) renderStream(state.stream);
          setStatus(t("The assistant is replying…"));
          scrollDown(true);
          break;
        case "delta":
          if (state.stream && state.stream.seq === frame.seq) {
            // Escaping is per character, so escaped pieces decode to the pieces of text.
            state.stream.text += textFromEscaped(frame.html);
            scheduleRender(state.stream);
          }
          break;
        case "end":
          if (state.stream && state.stream.seq === frame.seq) {
            endStream(state.stream);
            if (frame.status !== "complete") markFailed(state.stream.el, frame.status);
          }
          state.stream = null;
          state.waitingForReply = false;
          updateTurns(frame);
          if (frame.status === "complete") {
            setStatus("");
          } else {
            var failed = frame.error_message || t("The reply did not finish. Please try again.");
            // In the participant's language, from the template.
            var exitNote = technicalExit && technicalExit.getAttribute("data-failed-note");
            if (frame.technical_exit && exitNote) failed += " " + exitNote;
            setStatus(failed, true);
          }
          break;
        case "error":
          state.lastError = frame.message || "";
          if (frame.client_id && state.pending && state.pending.clientId === frame.client_id) {
            // Refused: take the message back into the box so nothing typed is lost.
            state.pending.el.remove();
            if (!input.value) input.value = state.pending.text;
            state.pending = null;
            updateCounter();
          }
          if (frame.code === "in_flight") {
            state.serverInFlight = !state.stream;
            if (state.serverInFlight) requestHistorySoon();
          }
          if (frame.code === "finished") state.active = false;
          if (frame.code === "internal" && state.stream) {
            endStream(state.stream);
            markFailed(state.stream.el, "error");
            state.stream = null;
            state.canRetry = true;
          }
          state.waitingForReply = false;
          setStatus(frame.message || t("Something went wrong. Please try again."), true);
          break;
        default:
          break;
      }
      updateControls();
    }

    // --- input -----------------------------------------------------------------------

    function send() {
      if (busy() || input.disabled) return;
      var text = input.value.trim();
      if (!text) {
        setStatus(t("Please type a message first."), true);
        return;
      }
      if (text.length > maxChars) {
        setStatus(
          t("Your message is too long. Please keep it to %(max)s characters or fewer.", { max: maxChars }),
          true,
        );
        return;
      }
      state.pending = { clientId: newClientId(), text: text, el: appendOwnMessage(text) };
      input.value = "";
      updateCounter();
      setStatus(t("Sending…"));
      transmitPending();
      updateControls();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });

    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });

    function blockPaste(event) {
      event.preventDefault();
      pasteNote.classList.add("chat-paste-blocked");
      setStatus(t("Pasting is turned off. Please type your message in your own words."), true);
    }
    input.addEventListener("paste", blockPaste);
    input.addEventListener("drop", blockPaste);
    input.addEventListener("input", function () {
      updateCounter();
      pasteNote.classList.remove("chat-paste-blocked");
    });

    retryButton.addEventListener("click", function () {
      if (busy()) return;
      if (sendFrame({ type: "retry" })) {
        state.canRetry = false;
        state.waitingForReply = true;
        setStatus(t("Trying again…"));
        updateControls();
      }
    });

    window.addEventListener("online", function () {
      if (!state.ws && !state.closedForGood) {
        state.attempts = 0;
        connect();
      }
    });

    updateCounter();
    updateControls();
    connect();
  }

  function start() {
    renderMarkdown = makeRenderer(readPolicy());
    var roots = document.querySelectorAll("[data-ws-path]");
    for (var i = 0; i < roots.length; i++) initChat(roots[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
