/* Plateaux loader: draws the launcher and hosts the widget in a cross-origin iframe.
 * Plain JavaScript, no dependencies. Every message to the iframe names the platform's
 * origin as its target, and only messages from that iframe and origin are believed. */
(function () {
  "use strict";
  if (window.__plateauxLoaded) return;
  var script = document.currentScript;
  if (!script) {
    var tags = document.querySelectorAll("script[data-site]");
    script = tags[tags.length - 1];
  }
  var key = script && script.getAttribute("data-site");
  if (!key) return;
  window.__plateauxLoaded = true;

  var platform = new URL(script.src, location.href).origin;
  var identity = script.getAttribute("data-identity") || window.plateauxIdentity || null;
  var frame = null, launcher = null, badge = null;
  var talking = false, opened = false, position = "bottom-right", lastUrl = null;

  function css(el, styles) {
    for (var name in styles) el.style.setProperty(name, styles[name], "important");
  }

  function post(message) {
    if (!talking || !frame || !frame.contentWindow) return;
    message.plx = 1;
    frame.contentWindow.postMessage(message, platform);
  }

  var prefix = "plx:" + key + ":";

  function kept() {
    var values = {};
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k && k.indexOf(prefix) === 0) values[k.slice(prefix.length)] = localStorage.getItem(k);
      }
    } catch (e) { /* nothing kept */ }
    return values;
  }

  function page() {
    return { url: location.href, title: document.title || "", referrer: document.referrer || "" };
  }

  function report() {
    // A single-page application usually sets the new title just after navigating.
    setTimeout(function () {
      if (location.href === lastUrl) return;
      lastUrl = location.href;
      post({ type: "page", page: page() });
    }, 0);
  }

  function wrap(name) {
    var original = history[name];
    if (typeof original !== "function") return;
    history[name] = function () {
      var result = original.apply(this, arguments);
      report();
      return result;
    };
  }

  function small() {
    return window.innerWidth < 480;
  }

  function place() {
    var side = position === "bottom-left" ? "left" : "right";
    var other = side === "left" ? "right" : "left";
    var box = small()
      ? { top: "0", bottom: "0", left: "0", right: "0", width: "100%", height: "100%",
          "border-radius": "0" }
      : { bottom: "88px", width: "370px", height: "min(600px, calc(100vh - 108px))",
          "border-radius": "12px", top: "auto" };
    if (!small()) { box[side] = "20px"; box[other] = "auto"; }
    css(frame, box);
    var button = { bottom: "20px" };
    button[side] = "20px";
    button[other] = "auto";
    if (launcher) css(launcher, button);
  }

  function show(open) {
    if (!frame) return;
    opened = open;
    css(frame, { display: open ? "block" : "none" });
    if (launcher) {
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      css(launcher, { display: open && small() ? "none" : "flex" });
    }
    if (open && badge) css(badge, { display: "none" });
    place();
    post({ type: open ? "open" : "close" });
  }

  function icon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  function drawLauncher(theme, label) {
    if (launcher) return;
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.setAttribute("data-plateaux", "launcher");
    launcher.setAttribute("aria-label", label);
    launcher.setAttribute("title", label);
    launcher.setAttribute("aria-expanded", "false");
    css(launcher, {
      position: "fixed", "z-index": "2147483000", width: "56px", height: "56px",
      border: "0", "border-radius": "50%", padding: "0", margin: "0", cursor: "pointer",
      display: "flex", "align-items": "center", "justify-content": "center",
      background: /^#[0-9a-f]{6}$/i.test(theme.color || "") ? theme.color : "#2454d6",
      color: "#fff", "box-shadow": "0 4px 14px rgba(0,0,0,.25)"
    });
    launcher.appendChild(icon());
    badge = document.createElement("span");
    css(badge, {
      position: "absolute", top: "-2px", right: "-2px", "min-width": "18px", height: "18px",
      "border-radius": "9px", background: "#d92d20", color: "#fff", font: "bold 11px/18px sans-serif",
      "text-align": "center", display: "none", padding: "0 4px"
    });
    launcher.appendChild(badge);
    launcher.addEventListener("click", function () { show(!opened); });
    document.body.appendChild(launcher);
    place();
  }

  function navigate(url) {
    var target;
    try { target = new URL(url, location.href); } catch (e) { return; }
    if (target.protocol !== "https:" && target.protocol !== "http:") return;
    if (target.origin === location.origin) location.assign(target.href);
    else window.open(target.href, "_blank", "noopener");
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== platform || !frame || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || data.plx !== 1 || typeof data.type !== "string") return;
    if (data.type === "hello") {
      talking = true;
      lastUrl = location.href;
      post({
        type: "init", page: page(), identity: identity, kept: kept(),
        lang: document.documentElement.lang || "", languages: navigator.languages || []
      });
    } else if (data.type === "ready") {
      var theme = data.theme || {};
      position = theme.position === "bottom-left" ? "bottom-left" : "bottom-right";
      if (data.show) drawLauncher(theme, String(data.label || "Chat"));
      if (data.open) show(true);
    } else if (data.type === "open") {
      show(true);
    } else if (data.type === "close") {
      show(false);
    } else if (data.type === "unread") {
      if (!badge) return;
      var count = Math.max(0, parseInt(data.count, 10) || 0);
      badge.textContent = count > 9 ? "9+" : String(count);
      css(badge, { display: count && !opened ? "block" : "none" });
    } else if (data.type === "store" && typeof data.name === "string") {
      // Only when the browser refuses storage to the iframe: keep its values here.
      try {
        if (data.value === null) localStorage.removeItem(prefix + data.name);
        else localStorage.setItem(prefix + data.name, String(data.value));
      } catch (e) { /* not remembered */ }
    } else if (data.type === "navigate" && typeof data.url === "string") {
      navigate(data.url);
    }
  });

  function start() {
    frame = document.createElement("iframe");
    frame.src = platform + "/embed/v1/sites/" + encodeURIComponent(key) + "/frame?origin=" +
      encodeURIComponent(location.origin);
    frame.title = "Chat";
    frame.setAttribute("data-plateaux", "frame");
    // Calls from the widget need the microphone (and the camera for video calls).
    frame.setAttribute("allow", "clipboard-write; microphone; camera; autoplay");
    css(frame, {
      position: "fixed", "z-index": "2147483001", border: "0", display: "none",
      background: "transparent", "box-shadow": "0 8px 30px rgba(0,0,0,.25)", "max-width": "100%"
    });
    document.body.appendChild(frame);
    place();
    wrap("pushState");
    wrap("replaceState");
    window.addEventListener("popstate", report);
    window.addEventListener("hashchange", report);
    window.addEventListener("resize", function () { if (frame) place(); });
  }

  window.Plateaux = {
    open: function () { show(true); },
    close: function () { show(false); },
    identify: function (token) {
      identity = token || null;
      post({ type: "identity", identity: identity });
    }
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
