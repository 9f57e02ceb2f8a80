// tsbridge console: live updates. On each server-sent "change" event, the page re-fetches
// itself and swaps its <main>; without JavaScript the pages work as plain links and forms.
(function () {
  "use strict";
  var main = document.querySelector("main[data-live]");
  var badge = document.getElementById("live");
  if (!main || !window.EventSource || !window.fetch) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var next = new DOMParser().parseFromString(text, "text/html").querySelector("main");
        // Keep what the user is typing in a filter: swap only when no input has focus.
        var active = document.activeElement;
        if (next && !(active && main.contains(active) && active.tagName === "INPUT")) {
          main.innerHTML = next.innerHTML;
          main.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var source = new EventSource("/events");
  source.addEventListener("open", function () { if (badge) { badge.textContent = "● live"; badge.className = "on"; } });
  source.addEventListener("error", function () { if (badge) { badge.textContent = "○ live"; badge.className = ""; } });
  source.addEventListener("change", refresh);
})();
