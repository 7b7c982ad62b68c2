// hpti dashboard: the little the pages need from a script. No framework, no build step;
// everything shown comes from the server already escaped, or is set here as text.
"use strict";

(function () {
  var main = function () { return document.getElementById("main"); };

  // Window picker, table sorting, paging and filters: fetch the page's main block and
  // swap it in, keeping the URL a permalink.
  function load(url, push) {
    var target = main();
    if (!target) { window.location.href = url; return; }
    target.setAttribute("aria-busy", "true");
    fetch(url, { headers: { "X-Hpti-Fragment": "1" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          // A login expired, or an error page: show it whole.
          window.location.href = url;
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        target.innerHTML = html;
        target.removeAttribute("aria-busy");
        if (push) { history.pushState({ fragment: true }, "", url); }
        start();
      })
      .catch(function () { window.location.href = url; });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-fragment]") : null;
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
    event.preventDefault();
    load(link.href, true);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-fragment") || (form.method || "get").toLowerCase() !== "get") { return; }
    event.preventDefault();
    var params = new URLSearchParams(new FormData(form));
    // Empty fields add nothing to the permalink.
    var kept = new URLSearchParams();
    params.forEach(function (value, key) { if (value !== "") { kept.append(key, value); } });
    var query = kept.toString();
    load(form.action.split("?")[0] + (query ? "?" + query : ""), true);
  });

  window.addEventListener("popstate", function () { load(window.location.href, false); });

  // Session replay with the vendored asciinema player.
  function startPlayer() {
    var el = document.getElementById("player");
    if (!el || el.hasAttribute("data-started") || !window.AsciinemaPlayer) { return; }
    el.setAttribute("data-started", "true");
    window.AsciinemaPlayer.create(el.getAttribute("data-cast"), el, {
      fit: "width",
      idleTimeLimit: 2,
      controls: true,
      preload: true
    });
  }

  // The live view: one row per event from the server's event stream.
  var live = null;
  function startLive() {
    var table = document.getElementById("live");
    if (!table) { if (live) { live.close(); live = null; } return; }
    if (live) { return; }
    var body = table.tBodies[0];
    var state = document.getElementById("live-state");
    var setState = function (name, text) { if (state) { state.setAttribute("data-state", name); state.textContent = text; } };
    live = new EventSource(table.getAttribute("data-source"));
    live.onopen = function () { setState("open", "live"); };
    live.onerror = function () { setState("retrying", "reconnecting…"); };
    live.onmessage = function (message) {
      var e;
      try { e = JSON.parse(message.data); } catch (err) { return; }
      var row = document.createElement("tr");
      row.setAttribute("data-id", e.id);
      var cell = function (text, className, href) {
        var td = document.createElement("td");
        if (className) { td.className = className; }
        if (href) {
          var a = document.createElement("a");
          a.href = href;
          a.textContent = text;
          td.appendChild(a);
        } else {
          td.textContent = text;
        }
        row.appendChild(td);
        return td;
      };
      cell((e.time || "").replace("T", " ").slice(0, 19), "t");
      var kind = cell("", "");
      var badge = document.createElement("span");
      badge.className = "kind " + e["class"];
      badge.textContent = e.kind;
      kind.appendChild(badge);
      cell(e.src_ip, "", "/attackers/" + encodeURIComponent(e.src_ip));
      cell(e.sensor, "");
      if (e.session) { cell(e.session.slice(0, 10), "mono", "/sessions/" + encodeURIComponent(e.session)); } else { cell("", ""); }
      cell(e.summary, "mono what");
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > 200) { body.deleteRow(body.rows.length - 1); }
      setState("open", "live");
    };
  }

  function start() { startPlayer(); startLive(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  window.addEventListener("load", startPlayer);
})();
