/* Plateaux widget: runs in the platform's iframe, talks to the page that embeds it only by
 * postMessage (to and from that page's origin) and to the platform by HTTP and WebSocket.
 * User content never goes through innerHTML: the server's sanitised HTML is parsed in an
 * inert document and copied node by node, allowed tags and safe links only. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("plx-config").textContent);
  var KEY = cfg.key, PARENT = cfg.parent || "";
  var BASE = "/embed/v1/sites/" + encodeURIComponent(KEY);
  var app = document.getElementById("plx-app");

  var TEXTS = {
    en: {
      title: "Chat with us", open: "Open the chat", close: "Close", greeting: "Hello! How can we help?",
      start: "Start a chat", write: "Write a message…", send: "Send", attach: "Attach a file",
      emoji: "Emoji", end: "End the chat", waiting: "Waiting for an agent…",
      position: "Position in the queue: {n}", wait: "Estimated wait: about {m} min",
      soon: "Estimated wait: less than a minute", chatting: "You are chatting with {name}",
      agent: "The agent", typing: "{name} is typing…", seen: "Seen", notSent: "Sending…",
      ended: "The chat has ended.", rate: "How was this chat?", comment: "A comment (optional)",
      rateSend: "Send my rating", thanks: "Thank you for your feedback!",
      transcript: "Email me the transcript", email: "Your email", name: "Your name",
      message: "Your message", leave: "Leave a message", leaveSend: "Send the message",
      closed: "We are closed right now. Leave us a message and we will get back to you.",
      overflow: "Nobody is available right now. Leave a message and we will get back to you.",
      sent: "Your message has been sent. Thank you!", transcriptSent: "The transcript is on its way.",
      offline: "Connection lost; reconnecting…", error: "Something went wrong; please try again.",
      file: "This file could not be sent (too large or not allowed).", newChat: "New chat",
      back: "Back", stars: "{n} out of 5",
      call: "Call us", videoCall: "Video call", callMe: "Call me back", calling: "Connecting…",
      talking: "On the phone with {name}", onHold: "On hold", mute: "Mute", unmute: "Unmute",
      hold: "Hold", resume: "Resume", hangUp: "Hang up", callEnded: "The call has ended.",
      noWebrtc: "Your browser cannot make calls from this page.", noMic: "No microphone found: calls are not possible.",
      micDenied: "The microphone is not allowed.", number: "Your phone number", when: "When?",
      asap: "As soon as possible", later: "At a time I choose", cbSend: "Call me back",
      cbWaiting: "We will call you back on {n}.", cbAt: "We will call you back on {n} at {t}.",
      cbCalling: "An advisor is calling you now.", cbDone: "Thank you, our call has ended.",
      cbFailed: "We could not reach you.", cbCancel: "Cancel the callback", cbCancelled: "The callback is cancelled."
    },
    fr: {
      title: "Discutons", open: "Ouvrir la discussion", close: "Fermer",
      greeting: "Bonjour ! Comment pouvons-nous vous aider ?", start: "Démarrer une discussion",
      write: "Écrivez un message…", send: "Envoyer", attach: "Joindre un fichier", emoji: "Émoji",
      end: "Terminer la discussion", waiting: "En attente d’un conseiller…",
      position: "Position dans la file : {n}", wait: "Attente estimée : environ {m} min",
      soon: "Attente estimée : moins d’une minute", chatting: "Vous discutez avec {name}",
      agent: "Le conseiller", typing: "{name} écrit…", seen: "Lu", notSent: "Envoi…",
      ended: "La discussion est terminée.", rate: "Comment s’est passée cette discussion ?",
      comment: "Un commentaire (facultatif)", rateSend: "Envoyer ma note",
      thanks: "Merci pour votre avis !", transcript: "Recevoir la transcription par e-mail",
      email: "Votre e-mail", name: "Votre nom", message: "Votre message",
      leave: "Laisser un message", leaveSend: "Envoyer le message",
      closed: "Nous sommes fermés pour le moment. Laissez-nous un message, nous vous répondrons.",
      overflow: "Personne n’est disponible pour le moment. Laissez un message et nous vous recontacterons.",
      sent: "Votre message a bien été envoyé. Merci !", transcriptSent: "La transcription vous a été envoyée.",
      offline: "Connexion perdue ; reconnexion…", error: "Une erreur est survenue ; veuillez réessayer.",
      file: "Ce fichier n’a pas pu être envoyé (trop lourd ou non autorisé).",
      newChat: "Nouvelle discussion", back: "Retour", stars: "{n} sur 5",
      call: "Nous appeler", videoCall: "Appel vidéo", callMe: "Être rappelé", calling: "Connexion…",
      talking: "En ligne avec {name}", onHold: "En attente", mute: "Couper le micro", unmute: "Rétablir le micro",
      hold: "Mettre en attente", resume: "Reprendre", hangUp: "Raccrocher", callEnded: "L’appel est terminé.",
      noWebrtc: "Votre navigateur ne peut pas appeler depuis cette page.", noMic: "Aucun micro trouvé : l’appel est impossible.",
      micDenied: "Le micro n’est pas autorisé.", number: "Votre numéro de téléphone", when: "Quand ?",
      asap: "Dès que possible", later: "À l’heure de mon choix", cbSend: "Être rappelé",
      cbWaiting: "Nous vous rappelons au {n}.", cbAt: "Nous vous rappellerons au {n} à {t}.",
      cbCalling: "Un conseiller vous appelle.", cbDone: "Merci, notre appel est terminé.",
      cbFailed: "Nous n’avons pas pu vous joindre.", cbCancel: "Annuler le rappel", cbCancelled: "Le rappel est annulé."
    }
  };
  var EMOJI = ["😀", "😂", "😊", "😍", "👍", "🙏", "👋", "🎉", "😢", "😮", "❤️", "✅"];
  var RICH = { P: 1, BR: 1, STRONG: 1, B: 1, EM: 1, I: 1, U: 1, S: 1, CODE: 1, PRE: 1, UL: 1,
               OL: 1, LI: 1, A: 1, BLOCKQUOTE: 1, SPAN: 1 };

  // When the browser refuses storage to third-party frames, the page keeps the values
  // for us (first-party storage, through the loader); they arrive with "init".
  var kept = {}, local = null;
  try { local = window.localStorage; local.getItem("plx"); } catch (e) { local = null; }
  var t = TEXTS.en, lang = "en";
  var s = {
    token: load("visitor"), visitor: null, widget: null, availability: null,
    conversation: load("conversation"), seq: 0, stored: 0, before: 0, ended: false, opened: false, unread: 0,
    status: null, agentName: null, typingTimer: null, typingSent: false, lastAgentSeq: 0,
    readSent: 0, seenSeq: 0, attempts: 0, socket: null, pingTimer: null, outbox: []
  };
  var view = {};
  // Voice: what the site offers now (GET /voice) and what this browser can do.
  var voice = { offer: null, cannot: null }, call = null;

  // --- storage: the iframe's own origin, so the token never reaches the tenant's page ---

  function name(k) { return "plx:" + KEY + ":" + k; }
  function load(k) {
    if (local) { try { return local.getItem(name(k)); } catch (e) { /* fall through */ } }
    return kept[k] === undefined ? null : kept[k];
  }
  function save(k, v) {
    v = v === null || v === undefined ? null : String(v);
    if (local) {
      try { if (v === null) local.removeItem(name(k)); else local.setItem(name(k), v); return; }
      catch (e) { /* fall through */ }
    }
    if (v === null) delete kept[k]; else kept[k] = v;
    toParent({ type: "store", name: k, value: v });
  }
  function loadSeq() {
    var v = null;
    try { v = sessionStorage.getItem(name("seq:" + s.conversation)); } catch (e) { /* */ }
    return parseInt(v || load("seq:" + s.conversation) || "0", 10) || 0;
  }
  function saveSeq() {
    save("seq:" + s.conversation, s.stored);
    try { sessionStorage.setItem(name("seq:" + s.conversation), String(s.stored)); } catch (e) { /* */ }
  }
  function saveOutbox() { save("outbox", s.outbox.length ? JSON.stringify(s.outbox) : null); }

  // --- helpers -------------------------------------------------------------------------

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? "" : values[k]; });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") for (var ev in attrs.on) node.addEventListener(ev, attrs.on[ev]);
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function toParent(message) {
    if (!PARENT || window.parent === window) return;
    message.plx = 1;
    window.parent.postMessage(message, PARENT);
  }
  function api(method, path, body, form) {
    var headers = { "Accept": "application/json" };
    if (s.token) headers["X-Visitor-Token"] = s.token;
    if (body && !form) headers["Content-Type"] = "application/json";
    return fetch(BASE + path, {
      method: method, headers: headers, credentials: "omit",
      body: form ? body : body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (p) {
        var e = new Error(p.detail || r.statusText); e.status = r.status; throw e;
      });
      return r.status === 204 ? null : r.json();
    });
  }
  function pickLanguage(wanted) {
    var offered = cfg.languages && cfg.languages.length ? cfg.languages : ["en"];
    for (var i = 0; i < wanted.length; i++) {
      var base = String(wanted[i] || "").toLowerCase().split(/[-_]/)[0];
      if (offered.indexOf(base) >= 0 && TEXTS[base]) return base;
    }
    return TEXTS[cfg.default_language] ? cfg.default_language : "en";
  }
  function setLanguage(code) {
    lang = TEXTS[code] ? code : "en";
    t = TEXTS[lang];
    document.documentElement.lang = lang;
  }

  // --- rendering ------------------------------------------------------------------------

  function rich(html, into) {
    var doc = new DOMParser().parseFromString("<body>" + html, "text/html");
    copy(doc.body, into);
  }
  function copy(from, to) {
    for (var n = from.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 3) { to.appendChild(document.createTextNode(n.nodeValue)); continue; }
      if (n.nodeType !== 1) continue;
      if (!RICH[n.tagName]) { copy(n, to); continue; }
      var node = document.createElement(n.tagName);
      if (n.tagName === "A") {
        var href = n.getAttribute("href") || "";
        if (/^(https?:|mailto:)/i.test(href)) {
          node.setAttribute("href", href);
          node.setAttribute("target", "_blank");
          node.setAttribute("rel", "nofollow noopener noreferrer");
        }
      }
      copy(n, node);
      to.appendChild(node);
    }
  }

  function header(title, withEnd) {
    return el("header", { class: "plx-head" }, [
      el("div", { class: "plx-titles" }, [
        el("h1", { text: title }),
        view.status = el("p", { class: "plx-status", "aria-live": "polite" })
      ]),
      withEnd ? view.endButton = el("button", { type: "button", class: "plx-link", text: t.end, on: { click: endChat } }) : null,
      el("button", { type: "button", class: "plx-x", "aria-label": t.close, title: t.close, text: "×",
                     on: { click: function () { toParent({ type: "close" }); } } })
    ]);
  }

  function render(nodes) {
    clear(app);
    nodes.forEach(function (n) { if (n) app.appendChild(n); });
  }

  function home(note) {
    var w = s.widget, a = s.availability || {};
    var greeting = (w.greeting && (w.greeting[lang] || w.greeting[w.default_language])) || t.greeting;
    var canChat = w.buttons.indexOf("chat") >= 0 && a.open !== false;
    var canLeave = w.buttons.indexOf("email") >= 0 || w.buttons.indexOf("chat") >= 0;
    var body = el("div", { class: "plx-body" }, [
      el("p", { class: "plx-greeting", text: greeting }),
      note ? el("p", { class: "plx-note", role: "status", text: note }) : null,
      a.open === false ? el("p", { class: "plx-note", text: t.closed }) : null,
      canChat && a.estimated_wait_seconds !== null && a.estimated_wait_seconds !== undefined
        ? el("p", { class: "plx-muted", text: waitText(a.estimated_wait_seconds) }) : null,
      canChat ? el("button", { type: "button", class: "plx-primary", "data-action": "chat", text: t.start, on: { click: chat } }) : null,
      voiceButtons(w),
      canLeave ? el("button", { type: "button", class: canChat ? "plx-secondary" : "plx-primary", "data-action": "message", text: t.leave, on: { click: function () { messageForm(); } } }) : null
    ]);
    render([header(w.name || t.title, false), body]);
    view.name = "home";
  }

  // --- voice: calls from the browser and callbacks ------------------------------------------

  function voiceButtons(w) {
    var o = voice.offer, box = el("div", { class: "plx-voice" });
    if (!o) return null;
    if (w.buttons.indexOf("call") >= 0 && o.call) {
      if (voice.cannot) box.appendChild(el("p", { class: "plx-muted", "data-voice": "unavailable", text: voice.cannot === "mic" ? t.noMic : t.noWebrtc }));
      else {
        box.appendChild(el("button", { type: "button", class: "plx-secondary", "data-action": "call", text: "📞 " + t.call, on: { click: function () { startCall(false); } } }));
        if (o.video) box.appendChild(el("button", { type: "button", class: "plx-secondary", "data-action": "video", text: "🎥 " + t.videoCall, on: { click: function () { startCall(true); } } }));
      }
    }
    if (w.buttons.indexOf("callback") >= 0 && o.callback) {
      box.appendChild(el("button", { type: "button", class: "plx-secondary", "data-action": "callback", text: "☎ " + t.callMe, on: { click: callbackForm } }));
    }
    return box.firstChild ? box : null;
  }

  function checkVoice() {
    var b = s.widget.buttons;
    if (b.indexOf("call") < 0 && b.indexOf("callback") < 0) return;
    var md = navigator.mediaDevices;
    var can = !window.RTCPeerConnection || !md || !md.getUserMedia ? Promise.resolve("webrtc")
      : md.enumerateDevices ? md.enumerateDevices().then(function (d) {
        return d.some(function (x) { return x.kind === "audioinput"; }) ? null : "mic";
      }, function () { return null; }) : Promise.resolve(null);
    Promise.all([api("GET", "/voice"), can]).then(function (r) {
      voice.offer = r[0]; voice.cannot = r[1];
      if (view.name === "home") home();
    }).catch(function () { /* no voice offered */ });
  }

  function callView(title) {
    view.name = "call";
    view.callState = el("p", { class: "plx-call-state", role: "status", "aria-live": "polite", text: t.calling });
    view.timer = el("p", { class: "plx-muted plx-timer" });
    view.audio = el("audio", { autoplay: true });
    view.video = el("video", { autoplay: true, playsinline: true, class: "plx-video", hidden: true });
    view.controls = el("div", { class: "plx-controls" });
    render([header(title, false), el("div", { class: "plx-body plx-call" }, [view.callState, view.timer, view.video, view.audio, view.controls])]);
  }

  function controls(list) {
    clear(view.controls);
    list.forEach(function (c) {
      view.controls.appendChild(el("button", { type: "button", class: c[2] || "plx-secondary", "data-action": c[0], text: c[1], on: { click: c[3] } }));
    });
  }

  function inCallControls() {
    var c = call;
    if (!c || c.ended) return;
    controls([
      ["mute", c.muted ? t.unmute : t.mute, null, function () { toggle("mute"); }],
      ["hold", c.held ? t.resume : t.hold, null, function () { toggle("hold"); }],
      ["hangup", t.hangUp, "plx-primary plx-danger", hangUp]
    ]);
  }

  function startCall(video) {
    var c = call = window.plxCall = { id: null, pc: null, stream: null, muted: false, held: false, ended: false };
    callView(s.widget.name || t.title);
    controls([["hangup", t.hangUp, "plx-primary plx-danger", hangUp]]);
    api("POST", "/calls", { video: !!video, language: lang }).then(function (r) {
      c.id = r.call_id;
      pollCall();
      return navigator.mediaDevices.getUserMedia({ audio: true, video: !!r.video }).catch(function () {
        throw new Error(t.micDenied);
      }).then(function (stream) {
        if (c.ended) { stream.getTracks().forEach(function (x) { x.stop(); }); return null; }
        c.stream = stream; c.ice = r; c.video = !!r.video;
        var pc = c.pc = new RTCPeerConnection({ iceServers: r.ice_servers || [], iceTransportPolicy: r.ice_transport_policy || "all" });
        // The switch carries the audio; video goes straight to the agent's browser.
        stream.getAudioTracks().forEach(function (x) { pc.addTrack(x, stream); });
        pc.ontrack = function (e) { view.audio.srcObject = e.streams[0]; };
        pc.onconnectionstatechange = function () { if (pc.connectionState === "failed") { c.error = t.error; hangUp(); } };
        return pc.createOffer().then(function (o) { return pc.setLocalDescription(o); })
          .then(function () { return gathered(pc); })
          .then(function () { return api("POST", "/calls/" + c.id + "/media", { sdp: pc.localDescription.sdp }); })
          .then(function (a) { return pc.setRemoteDescription({ type: "answer", sdp: a.sdp }); })
          .then(inCallControls);
      });
    }).catch(function (err) { c.error = err.message || t.error; hangUp(); });
  }

  function startVideo(c) {
    var pc = c.vpc = new RTCPeerConnection({ iceServers: c.ice.ice_servers || [], iceTransportPolicy: c.ice.ice_transport_policy || "all" });
    c.stream.getVideoTracks().forEach(function (x) { pc.addTrack(x, c.stream); });
    pc.ontrack = function (e) { view.video.srcObject = e.streams[0]; view.video.hidden = false; };
    pc.createOffer().then(function (o) { return pc.setLocalDescription(o); })
      .then(function () { return gathered(pc); })
      .then(function () { return api("POST", "/calls/" + c.id + "/video", { sdp: pc.localDescription.sdp }); })
      .catch(function () { c.vpc = null; pc.close(); });
  }

  function gathered(pc) {
    return new Promise(function (ok) {
      if (pc.iceGatheringState === "complete") return ok();
      var timer = setTimeout(ok, 4000);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); ok(); }
      });
    });
  }

  function pollCall() {
    var c = call;
    clearInterval(c.poll);
    c.poll = setInterval(function () {
      if (!c.id || c.ended) return;
      api("GET", "/calls/" + c.id).then(showCall).catch(function () { /* next round */ });
    }, 1500);
  }

  function toggle(what) {
    var c = call, on = what === "mute" ? !c.muted : !c.held;
    if (what === "mute" && c.stream) c.stream.getAudioTracks().forEach(function (x) { x.enabled = !on; });
    api("POST", "/calls/" + c.id + "/" + what, { on: on }).then(function (st) {
      if (what === "mute") c.muted = on; else c.held = on;
      showCall(st);
    }).catch(function (err) { view.callState.textContent = err.message; });
  }

  function showCall(st) {
    var c = call;
    if (!c || c.ended) return;
    c.status = st;
    if (c.kind === "callback" || st.kind === "callback") return showCallback(st);
    var text;
    if (st.status === "ended") { endCall(); return; }
    if (st.agent_name) {
      if (!c.since) c.since = Date.now();
      if (c.video && !c.vpc && c.stream) startVideo(c);
      if (c.vpc && st.video_answer && !c.vpc.remoteDescription) c.vpc.setRemoteDescription({ type: "answer", sdp: st.video_answer }).catch(function () { /* next offer */ });
      text = st.on_hold ? t.onHold : fmt(t.talking, { name: st.agent_name });
    } else {
      text = [t.waiting, st.position ? fmt(t.position, { n: st.position }) : "", waitText(st.estimated_wait_seconds)].filter(Boolean).join(" · ");
    }
    view.callState.textContent = text;
    if (c.since) view.timer.textContent = clock(Date.now() - c.since);
  }

  function clock(ms) {
    var sec = Math.floor(ms / 1000);
    return Math.floor(sec / 60) + ":" + ("0" + sec % 60).slice(-2);
  }

  function hangUp() {
    var c = call;
    if (!c || c.ended) return;
    if (c.id) api("POST", "/calls/" + c.id + "/hangup").catch(function () { /* ended anyway */ });
    endCall();
  }

  function endCall() {
    var c = call;
    if (!c || c.ended) return;
    c.ended = true;
    clearInterval(c.poll);
    if (c.pc) c.pc.close();
    if (c.vpc) c.vpc.close();
    if (c.stream) c.stream.getTracks().forEach(function (x) { x.stop(); });
    if (view.callState) view.callState.textContent = c.error || (c.kind === "callback" ? t.cbCancelled : t.callEnded);
    controls([["back", t.back, "plx-secondary", function () { call = null; home(); }]]);
  }

  function callbackForm() {
    view.name = "callback";
    var number = el("input", { name: "number", type: "tel", autocomplete: "tel", required: true, maxlength: "40" });
    var slot = el("input", { name: "slot", type: "datetime-local", hidden: true });
    var later = el("select", { name: "when", on: { change: function () { slot.hidden = later.value !== "later"; slot.required = !slot.hidden; } } },
      [el("option", { value: "asap", text: t.asap }), el("option", { value: "later", text: t.later })]);
    var nameInput = el("input", { name: "name", autocomplete: "name", maxlength: "200" });
    var problem = el("p", { class: "plx-error", role: "alert" });
    var form = el("form", { class: "plx-body plx-form" }, [
      el("label", {}, [t.number, number]), el("label", {}, [t.when, later, slot]),
      el("label", {}, [t.name, nameInput]), problem,
      el("button", { type: "submit", class: "plx-primary", text: t.cbSend }),
      el("button", { type: "button", class: "plx-link", text: t.back, on: { click: function () { home(); } } })
    ]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var when = later.value === "later" && slot.value ? new Date(slot.value).toISOString() : "asap";
      api("POST", "/callbacks", { number: number.value, when: when, name: nameInput.value, language: lang }).then(function (st) {
        call = window.plxCall = { id: st.id, kind: "callback", ended: false, number: number.value };
        callView(t.callMe);
        controls([["cancel", t.cbCancel, "plx-secondary", hangUp]]);
        showCallback(st);
        pollCall();
      }).catch(function (err) { problem.textContent = err.message || t.error; });
    });
    render([header(t.callMe, false), form]);
  }

  function showCallback(st) {
    var c = call, text;
    if (st.status === "ended") {
      text = st.outcome === "answered" || st.outcome === "completed" ? t.cbDone
        : st.outcome === "cancelled" ? t.cbCancelled : t.cbFailed;
      view.callState.textContent = text;
      c.ended = true; clearInterval(c.poll);
      controls([["back", t.back, "plx-secondary", function () { call = null; home(); }]]);
      return;
    }
    if (st.status === "connecting" || st.status === "connected") text = t.cbCalling;
    else if (st.scheduled_for && st.status === "scheduled") text = fmt(t.cbAt, { n: c.number, t: new Date(st.scheduled_for).toLocaleString() });
    else text = [fmt(t.cbWaiting, { n: c.number }), st.position ? fmt(t.position, { n: st.position }) : "", waitText(st.estimated_wait_seconds)].filter(Boolean).join(" · ");
    view.callState.textContent = text;
  }

  function waitText(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return seconds < 60 ? t.soon : fmt(t.wait, { m: Math.round(seconds / 60) });
  }

  function messageForm(reason) {
    var nameInput = el("input", { name: "name", autocomplete: "name", required: true, maxlength: "200" });
    var emailInput = el("input", { name: "email", type: "email", autocomplete: "email", required: true, maxlength: "320" });
    var textInput = el("textarea", { name: "text", required: true, rows: "5", maxlength: "5000" });
    var problem = el("p", { class: "plx-error", role: "alert" });
    var form = el("form", { class: "plx-body plx-form", novalidate: false }, [
      reason ? el("p", { class: "plx-note", text: reason }) : null,
      el("label", {}, [t.name, nameInput]),
      el("label", {}, [t.email, emailInput]),
      el("label", {}, [t.message, textInput]),
      problem,
      el("button", { type: "submit", class: "plx-primary", text: t.leaveSend }),
      el("button", { type: "button", class: "plx-link", text: t.back, on: { click: function () { home(); } } })
    ]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/messages", { name: nameInput.value, email: emailInput.value, text: textInput.value })
        .then(function () { forget(); home(t.sent); })
        .catch(function (err) { problem.textContent = err.message || t.error; });
    });
    view.name = "message";
    render([header(t.leave, false), form]);
  }

  function chatView() {
    view.list = el("ol", { class: "plx-list", "aria-live": "polite" });
    view.typing = el("p", { class: "plx-typing", "aria-live": "polite" });
    view.input = el("textarea", { rows: "1", placeholder: t.write, "aria-label": t.write, maxlength: "5000",
      on: { input: typed, keydown: function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); } } } });
    view.file = el("input", { type: "file", hidden: true, on: { change: upload } });
    view.emojis = el("div", { class: "plx-emojis", hidden: true }, EMOJI.map(function (ch) {
      return el("button", { type: "button", text: ch, on: { click: function () { insert(ch); } } });
    }));
    view.extra = el("div", { class: "plx-extra" });
    view.composer = el("form", { class: "plx-composer", on: { submit: function (e) { e.preventDefault(); submit(); } } }, [
      el("button", { type: "button", class: "plx-icon", "aria-label": t.attach, title: t.attach, text: "📎", on: { click: function () { view.file.click(); } } }),
      el("button", { type: "button", class: "plx-icon", "aria-label": t.emoji, title: t.emoji, text: "🙂", on: { click: function () { view.emojis.hidden = !view.emojis.hidden; } } }),
      view.input, view.file,
      el("button", { type: "submit", class: "plx-send", text: t.send })
    ]);
    view.name = "chat";
    render([header(s.widget.name || t.title, true), view.list, view.typing, view.extra, view.emojis, view.composer]);
    view.items = {};
    showStatus();
  }

  function insert(ch) {
    var i = view.input, at = i.selectionStart || i.value.length;
    i.value = i.value.slice(0, at) + ch + i.value.slice(at);
    view.emojis.hidden = true;
    i.focus();
  }

  function showStatus() {
    if (!view.status) return;
    var st = s.status || {}, parts = [];
    if (s.ended) parts.push(t.ended);
    else if (s.agentName) parts.push(fmt(t.chatting, { name: s.agentName }));
    else if (s.conversation) {
      parts.push(t.waiting);
      if (st.position) parts.push(fmt(t.position, { n: st.position }));
      if (st.estimated_wait_seconds !== null && st.estimated_wait_seconds !== undefined) parts.push(waitText(st.estimated_wait_seconds));
    }
    if (s.offline && !s.ended) parts.push(t.offline);
    view.status.textContent = parts.join(" · ");
  }

  function bubble(m) {
    var mine = m.author_type === "visitor";
    var content = el("div", { class: "plx-text" });
    if (m.body) rich(m.body, content); else content.textContent = m.text || "";
    var files = (m.attachments || []).map(function (a) {
      return el("a", { href: "#", class: "plx-file", text: "📄 " + (a.name || "file"),
        on: { click: function (e) { e.preventDefault(); download(a); } } });
    });
    var meta = el("span", { class: "plx-meta" });
    var item = el("li", { class: "plx-msg " + (mine ? "plx-mine" : m.author_type === "system" ? "plx-system" : "plx-theirs"),
                          "data-seq": m.seq || null }, [
      !mine && m.author_name && m.author_type !== "system" ? el("span", { class: "plx-author", text: m.author_name }) : null,
      content
    ].concat(files).concat([meta]));
    item._meta = meta;
    return item;
  }

  function place(m) {
    if (!view.list) return;
    var existing = (m.client_id && view.items["c:" + m.client_id]) || (m.seq && view.items["s:" + m.seq]);
    var item = bubble(m);
    if (existing) view.list.replaceChild(item, existing); else view.list.appendChild(item);
    if (m.client_id) view.items["c:" + m.client_id] = item;
    if (m.seq) view.items["s:" + m.seq] = item;
    if (m.pending) item._meta.textContent = t.notSent;
    item.scrollIntoView({ block: "end" });
    markSeen();
  }

  function markSeen() {
    if (!view.list) return;
    var mine = view.list.querySelectorAll(".plx-mine");
    for (var i = 0; i < mine.length; i++) {
      var seq = parseInt(mine[i].getAttribute("data-seq"), 10);
      if (mine[i]._meta && seq) mine[i]._meta.textContent = seq <= s.seenSeq && i === mine.length - 1 ? t.seen : "";
    }
  }

  function download(a) {
    fetch(BASE + "/conversations/" + s.conversation + "/attachments/" + encodeURIComponent(a.id),
          { headers: { "X-Visitor-Token": s.token }, credentials: "omit" })
      .then(function (r) { if (!r.ok) throw new Error(); return r.blob(); })
      .then(function (blob) {
        var link = el("a", { href: URL.createObjectURL(blob), download: a.name || "file" });
        document.body.appendChild(link); link.click(); link.remove();
      }).catch(function () { note(t.error); });
  }

  function note(text) {
    if (view.extra) { clear(view.extra); if (text) view.extra.appendChild(el("p", { class: "plx-note", role: "status", text: text })); }
  }

  // --- the conversation -------------------------------------------------------------------

  function chat() {
    // A fresh page shows the whole conversation again (from 0); the stored number says
    // what was already seen, so only later messages count as unread.
    s.seq = 0;
    s.before = s.stored = s.conversation ? loadSeq() : 0;
    chatView();
    if (s.conversation) connect();
    view.input.focus();
  }

  function begin() {
    if (s.starting) return s.starting;
    s.starting = api("POST", "/conversations", { language: lang }).then(function (c) {
      s.conversation = c.conversation_id;
      s.seq = 0; s.stored = 0; s.before = 0; s.ended = false;
      save("conversation", s.conversation);
      saveSeq();
      frameStatus({ type: "status", status: c.status, position: c.position, estimated_wait_seconds: c.estimated_wait_seconds, overflow: c.overflow });
      connect();
    }).catch(function (err) { s.starting = null; note(err.message || t.error); throw err; });
    return s.starting;
  }

  function submit() {
    var text = view.input.value.trim();
    if (!text || s.ended) return;
    view.input.value = "";
    queue({ client_id: uid(), text: text, attachments: [] });
  }

  function queue(m) {
    s.outbox.push(m);
    saveOutbox();
    place({ author_type: "visitor", client_id: m.client_id, text: m.text, attachments: m.attachmentsShown || [], pending: true });
    stopTyping();
    if (!s.conversation) begin().catch(function () { /* reported */ });
    else flush();
  }

  function flush() {
    if (!s.socket || s.socket.readyState !== 1) return;
    s.outbox.forEach(function (m) {
      s.socket.send(JSON.stringify({ type: "message", client_id: m.client_id, text: m.text, attachments: m.attachments }));
    });
  }

  function upload() {
    var file = view.file.files && view.file.files[0];
    view.file.value = "";
    if (!file) return;
    var go = s.conversation ? Promise.resolve() : begin();
    go.then(function () {
      var data = new FormData();
      data.append("file", file, file.name);
      return api("POST", "/conversations/" + s.conversation + "/attachments", data, true);
    }).then(function (a) {
      queue({ client_id: uid(), text: "", attachments: [a.id], attachmentsShown: [a] });
    }).catch(function () { note(t.file); });
  }

  function typed() {
    if (!s.socket || s.socket.readyState !== 1) return;
    if (!s.typingSent) { s.socket.send(JSON.stringify({ type: "typing", typing: true })); s.typingSent = true; }
    clearTimeout(s.typingTimer);
    s.typingTimer = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(s.typingTimer);
    if (s.typingSent && s.socket && s.socket.readyState === 1) s.socket.send(JSON.stringify({ type: "typing", typing: false }));
    s.typingSent = false;
  }

  function read() {
    if (!s.opened || document.visibilityState !== "visible" || !s.socket || s.socket.readyState !== 1) return;
    if (s.lastAgentSeq > s.readSent) {
      s.readSent = s.lastAgentSeq;
      s.socket.send(JSON.stringify({ type: "read", seq: s.lastAgentSeq }));
    }
    s.unread = 0;
    toParent({ type: "unread", count: 0 });
  }

  function connect() {
    if (!s.conversation || s.ended || (s.socket && s.socket.readyState <= 1)) return;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + BASE +
      "/conversations/" + encodeURIComponent(s.conversation) + "/ws?visitor_token=" +
      encodeURIComponent(s.token) + "&after=" + s.seq;
    var socket = new WebSocket(url);
    s.socket = socket;
    socket.onopen = function () {
      s.attempts = 0; s.offline = false; showStatus();
      flush();
      read();
      clearInterval(s.pingTimer);
      s.pingTimer = setInterval(function () { if (socket.readyState === 1) socket.send('{"type":"ping"}'); }, 25000);
    };
    socket.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f && typeof f.type === "string") frame(f);
    };
    socket.onclose = function (e) {
      clearInterval(s.pingTimer);
      if (s.socket !== socket) return;
      s.socket = null;
      if (s.ended) return;
      // 4400–4499 and policy violations: this conversation is not ours (or gone).
      if ((e.code >= 4400 && e.code < 4500) || e.code === 1008) { forget(); home(); return; }
      s.offline = true; showStatus();
      var delay = Math.min(15000, 500 * Math.pow(2, s.attempts++)) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  function frame(f) {
    if (f.type === "message") {
      // Resuming replays from the last number seen; anything at or below it is a repeat.
      if (f.seq && f.seq <= s.seq) return;
      if (f.seq) { s.seq = f.seq; if (f.seq > s.stored) { s.stored = f.seq; saveSeq(); } }
      if (f.client_id) dropOutbox(f.client_id);
      place(f);
      if (f.author_type !== "visitor" && f.author_type !== "system") {
        s.lastAgentSeq = Math.max(s.lastAgentSeq, f.seq || 0);
        if (f.author_name) s.agentName = f.author_name;
        if (view.typing) view.typing.textContent = "";
        if (s.opened && document.visibilityState === "visible") read();
        else if (f.seq > s.before) { s.unread++; toParent({ type: "unread", count: s.unread }); }
      }
    } else if (f.type === "ack") {
      dropOutbox(f.client_id);
      var item = view.items && view.items["c:" + f.client_id];
      if (item) { item.setAttribute("data-seq", f.seq); item._meta.textContent = ""; view.items["s:" + f.seq] = item; }
      markSeen();
    } else if (f.type === "typing") {
      if (f.author_type !== "visitor" && view.typing) {
        view.typing.textContent = f.typing ? fmt(t.typing, { name: s.agentName || t.agent }) : "";
      }
    } else if (f.type === "read") {
      if (f.reader === "agent") { s.seenSeq = Math.max(s.seenSeq, f.seq || 0); markSeen(); }
    } else if (f.type === "status") {
      frameStatus(f);
    } else if (f.type === "ended") {
      ended();
    } else if (f.type === "push_page" && typeof f.url === "string") {
      toParent({ type: "navigate", url: f.url });
    }
  }

  function frameStatus(f) {
    s.status = f;
    if (f.agent_name) s.agentName = f.agent_name;
    if (f.status === "ended") { ended(); return; }
    showStatus();
    if (f.overflow && view.extra && !view.extra.querySelector("[data-action=message]")) {
      clear(view.extra);
      view.extra.appendChild(el("div", { class: "plx-overflow" }, [
        el("p", { text: t.overflow }),
        el("button", { type: "button", class: "plx-secondary", "data-action": "message", text: t.leave,
          on: { click: function () { messageForm(); } } })
      ]));
    }
  }

  function dropOutbox(clientId) {
    var before = s.outbox.length;
    s.outbox = s.outbox.filter(function (m) { return m.client_id !== clientId; });
    if (s.outbox.length !== before) saveOutbox();
  }

  function endChat() {
    if (s.socket && s.socket.readyState === 1) s.socket.send('{"type":"end"}');
    else ended();
  }

  function ended() {
    if (s.ended) return;
    s.ended = true;
    stopTyping();
    if (s.socket) { var sock = s.socket; s.socket = null; sock.close(); }
    showStatus();
    if (view.endButton) view.endButton.remove();
    if (view.composer) view.composer.remove();
    if (view.typing) view.typing.textContent = "";
    var conversation = s.conversation;
    var score = 0, stars = [];
    var comment = el("textarea", { rows: "2", placeholder: t.comment, "aria-label": t.comment, maxlength: "2000" });
    var rating = el("form", { class: "plx-rating" }, [
      el("p", { text: t.rate }),
      el("div", { class: "plx-stars", role: "radiogroup", "aria-label": t.rate }, [1, 2, 3, 4, 5].map(function (n) {
        var b = el("button", { type: "button", role: "radio", "aria-checked": "false", "aria-label": fmt(t.stars, { n: n }), text: "★",
          on: { click: function () { score = n; stars.forEach(function (x, i) { x.setAttribute("aria-checked", i < n ? "true" : "false"); }); } } });
        stars.push(b);
        return b;
      })),
      comment,
      el("button", { type: "submit", class: "plx-primary", text: t.rateSend })
    ]);
    rating.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!score) return;
      api("POST", "/conversations/" + conversation + "/rating", { score: score, comment: comment.value })
        .then(function () { rating.replaceWith(el("p", { class: "plx-note", text: t.thanks })); })
        .catch(function (err) { note(err.message || t.error); });
    });
    var email = el("input", { type: "email", required: true, placeholder: t.email, "aria-label": t.email, autocomplete: "email" });
    var transcript = el("form", { class: "plx-transcript" }, [email, el("button", { type: "submit", class: "plx-secondary", text: t.transcript })]);
    transcript.addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/conversations/" + conversation + "/transcript", { email: email.value })
        .then(function () { transcript.replaceWith(el("p", { class: "plx-note", text: t.transcriptSent })); })
        .catch(function (err) { note(err.message || t.error); });
    });
    var again = el("button", { type: "button", class: "plx-link", text: t.newChat, on: { click: function () { home(); } } });
    if (view.extra) { clear(view.extra); [el("p", { class: "plx-note", text: t.ended }), rating, transcript, again].forEach(function (n) { view.extra.appendChild(n); }); }
    forget();
  }

  function forget() {
    if (s.conversation) save("seq:" + s.conversation, null);
    s.conversation = null; s.seq = 0; s.starting = null; s.outbox = []; s.agentName = null; s.status = null;
    s.lastAgentSeq = 0; s.readSent = 0; s.seenSeq = 0;
    save("conversation", null);
    saveOutbox();
  }

  // --- start: hello to the page, then meet the platform -----------------------------------

  function meet(init) {
    if (!local && init.kept && typeof init.kept === "object") {
      for (var k in init.kept) if (typeof init.kept[k] === "string") kept[k] = init.kept[k];
      s.token = load("visitor");
      s.conversation = load("conversation");
    }
    setLanguage(pickLanguage([init.lang].concat(init.languages || [], [navigator.language])));
    return api("POST", "/visitors", {
      visitor_token: s.token, identity: init.identity || null, language: lang, page: init.page || null
    }).then(function (v) {
      s.token = v.visitor_token; save("visitor", s.token);
      s.visitor = v; s.widget = v.widget; s.availability = v.availability;
      setLanguage(v.language);
      if (s.widget.theme && /^#[0-9a-f]{6}$/i.test(s.widget.theme.color || "")) {
        document.documentElement.style.setProperty("--plx-color", s.widget.theme.color);
      }
      try { s.outbox = JSON.parse(load("outbox") || "[]"); } catch (e) { s.outbox = []; }
      if (s.conversation) chat(); else home();
      checkVoice();
      toParent({ type: "ready", theme: s.widget.theme || {}, label: t.open, show: s.widget.buttons.length > 0 });
    });
  }

  var started = false;
  window.addEventListener("message", function (e) {
    if (!PARENT || e.origin !== PARENT || e.source !== window.parent) return;
    var d = e.data;
    if (!d || d.plx !== 1) return;
    if (d.type === "init" && !started) {
      started = true;
      meet(d).catch(function () { started = false; });
    } else if (d.type === "page" && d.page && s.token) {
      api("POST", "/pages", d.page).catch(function () { /* a missed page is not worth a retry */ });
    } else if (d.type === "identity" && s.token) {
      api("POST", "/visitors", { visitor_token: s.token, identity: d.identity || null, language: lang })
        .then(function (v) { s.visitor = v; }).catch(function () { /* stays as it was */ });
    } else if (d.type === "open") {
      s.opened = true; read();
      if (view.input && document.contains(view.input)) view.input.focus();
    } else if (d.type === "close") {
      s.opened = false;
    }
  });
  document.addEventListener("visibilitychange", read);
  window.addEventListener("online", function () { s.attempts = 0; connect(); });

  if (PARENT && window.parent !== window) toParent({ type: "hello" });
  else { started = true; s.opened = true; meet({ lang: document.documentElement.lang, languages: navigator.languages, page: null }); }
})();
