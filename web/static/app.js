// The dashboard's own script: errors from htmx requests become a notice at the bottom of the
// page (as text: an error message is never parsed as HTML).
(function () {
  "use strict";
  var timer = null;

  function notify(text) {
    var toast = document.getElementById("toast");
    if (!toast) { return; }
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(function () { toast.hidden = true; }, 8000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = (xhr && xhr.responseText) ? xhr.responseText : "";
    if (text.length > 300 || text.indexOf("<") !== -1) { text = ""; }
    notify(text || ("The request failed (" + (xhr ? xhr.status : "?") + ")."));
  });
  document.addEventListener("htmx:sendError", function () {
    notify("The service does not answer. It may be stopped or restarting.");
  });
  document.body.addEventListener("martingale-error", function (event) {
    notify(String(event.detail && event.detail.value || "The request was refused."));
  });
  window.martingaleNotify = notify;
})();
