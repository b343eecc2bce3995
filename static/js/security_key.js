/* Security keys (allauth.mfa's WebAuthn pages): allauth's own scripts ask the browser for
   the key and, when that fails, only dispatch an "allauth.error" event (and log it). This
   says what went wrong in the page's [data-security-key-error] element, next to the
   button that asked. A file rather than an inline script: the Content-Security-Policy
   runs scripts from this origin only. */
(function () {
  "use strict";
  var MESSAGES = {
    // Cancelled, timed out, or no key present holds a credential of this account:
    // browsers give one name to all three, so that the page cannot tell which keys exist.
    NotAllowedError:
      "No security key of this account answered: it was not plugged in or touched, " +
      "the request was cancelled or timed out, or the key is not one you added.",
    InvalidStateError: "This security key is already added to your account.",
    SecurityError:
      "This address cannot use security keys: they need https (or http://localhost).",
    NotSupportedError: "This browser or key cannot be used for this sign-in.",
    AbortError: "The request to the security key was cancelled.",
  };

  document.addEventListener("allauth.error", function (event) {
    var tags = (event.detail && event.detail.tags) || [];
    if (tags.indexOf("webauthn") === -1) return;
    var box = document.querySelector("[data-security-key-error]");
    if (!box) return;
    event.preventDefault();
    var exception = event.detail.exception || {};
    var message = MESSAGES[exception.name];
    if (!message) {
      message = window.PublicKeyCredential
        ? "The security key could not be used. Try again."
        : "This browser cannot use security keys.";
    }
    box.textContent = message + " " + (box.dataset.securityKeyHint || "");
    box.hidden = false;
  });
})();
