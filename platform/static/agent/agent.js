// The agent console: status, the live connection that brings offers, and the chats.
import { api, config } from "./api.js";
import { alertsOn, beep, enableAlerts, notify } from "./alerts.js";
import { ChatTab } from "./chat.js";
import { customerPanel, popOffer } from "./customer.js";
import { EmailTab } from "./email.js";
import { helpdeskFrame, helpdeskPanel, notificationsBox } from "./helpdesk.js";
import { LiveSocket, showConnection } from "./live.js";
import { el } from "./text.js";
import { VoiceTab, reachControl } from "./voice.js";

const settings = config();
const presence = document.getElementById("presence");
const connection = document.getElementById("connection");
const offersList = document.getElementById("offers");
const tabs = document.getElementById("tabs");
const chats = document.getElementById("chats");
const offers = new Map(); // contact id -> {element, timer}
const open = new Map(); // contact id -> {tab, button}
const canned = [];
const CHANNELS = { chat: "Chat", email: "Email", phone: "Call", webcall: "Web call", callback: "Callback", form: "Form" };
const queueNames = new Map(settings.queues.map((q) => [q.id, q.name]));
const VOICE = new Set(["webcall", "callback", "phone"]);

// --- status ----------------------------------------------------------------------------

function showPresence(state) {
  const value = state.presence === "away" ? `away:${state.reason ?? ""}` : state.presence;
  if (![...presence.options].some((o) => o.value === value) && state.presence === "away") {
    presence.append(el("option", { value, text: `Away · ${state.reason}` }));
  }
  if ([...presence.options].some((o) => o.value === value)) presence.value = value;
  document.body.dataset.presence = state.presence;
}

presence.addEventListener("change", async () => {
  const [name, reason] = presence.value.split(":");
  try {
    showPresence(await api("PUT", "/me/presence", { presence: name, reason: name === "away" ? reason || null : null }));
  } catch (error) {
    connection.textContent = error.message;
  }
});

document.getElementById("alerts").addEventListener("click", async (event) => {
  const permission = await enableAlerts();
  event.target.textContent = permission === "granted" ? "Sound and notifications on" : "Sound on (notifications blocked)";
  event.target.disabled = alertsOn();
  beep();
});

// --- offers ----------------------------------------------------------------------------

function refreshEmpty() {
  document.getElementById("no-offers").hidden = offers.size > 0;
  document.getElementById("no-chats").hidden = open.size > 0;
}

function removeOffer(contactId) {
  const offer = offers.get(contactId);
  if (!offer) return;
  clearInterval(offer.timer);
  offer.element.remove();
  offers.delete(contactId);
  refreshEmpty();
}

function showOffer(payload) {
  const contactId = payload.contact_id;
  if (offers.has(contactId) || open.has(contactId)) return;
  const item = document.getElementById("offer-template").content.firstElementChild.cloneNode(true);
  item.dataset.contact = contactId;
  const attributes = payload.attributes ?? {};
  item.querySelector(".offer-channel").textContent = CHANNELS[payload.channel] ?? payload.channel;
  item.querySelector(".offer-queue").textContent = queueNames.get(payload.queue_id) ?? "";
  item.querySelector(".offer-who").textContent = attributes.name || attributes.email || "New customer";
  item.querySelector(".offer-page").textContent = attributes.current_title || attributes.current_page || "";
  const countdown = item.querySelector(".countdown");
  const tick = () => {
    if (!payload.expires_at) { countdown.textContent = ""; return; }
    const left = Math.ceil(payload.expires_at - Date.now() / 1000);
    countdown.textContent = `${Math.max(0, left)} s`;
    countdown.classList.toggle("urgent", left <= 10);
    if (left <= 0) removeOffer(contactId);
  };
  tick();
  const timer = setInterval(tick, 250);
  item.querySelector(".accept").addEventListener("click", () => accept(payload));
  item.querySelector(".decline").addEventListener("click", async () => {
    removeOffer(contactId);
    await api("POST", `/contacts/${contactId}/decline`).catch(() => {});
  });
  offersList.append(item);
  offers.set(contactId, { element: item, timer });
  popOffer(item, contactId).catch(() => {});
  refreshEmpty();
  beep();
  notify(`${CHANNELS[payload.channel] ?? "Contact"} waiting`, item.querySelector(".offer-who").textContent, () => item.querySelector(".accept").focus());
}

async function accept(payload) {
  const offer = offers.get(payload.contact_id);
  offer?.element.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    const contact = await api("POST", `/contacts/${payload.contact_id}/accept`);
    removeOffer(payload.contact_id);
    openChat(contact);
  } catch (error) {
    // Taken by another agent, withdrawn or expired: the offer is gone either way.
    removeOffer(payload.contact_id);
    connection.textContent = error.message;
  }
}

// --- chats -----------------------------------------------------------------------------

function select(contactId) {
  for (const [id, entry] of open) {
    const active = id === contactId;
    entry.tab.root.classList.toggle("active", active);
    entry.tab.root.hidden = !active;
    entry.button.setAttribute("aria-selected", String(active));
    entry.button.classList.toggle("active", active);
    if (active) { entry.button.classList.remove("unread"); entry.tab.shown?.(); }
  }
}

function openChat(contact) {
  if (open.has(contact.id)) { select(contact.id); return; }
  const voice = VOICE.has(contact.channel) || Boolean(contact.attributes?.voicemail_call_id);
  const Tab = contact.channel === "email" ? EmailTab : voice ? VoiceTab : ChatTab;
  const tab = new Tab({
    contact, settings, canned,
    onClose: (closed) => {
      const entry = open.get(closed.contact.id);
      entry?.button.remove();
      closed.root.remove();
      open.delete(closed.contact.id);
      const next = open.keys().next();
      if (!next.done) select(next.value);
      refreshEmpty();
    },
  });
  const attributes = contact.attributes ?? {};
  const button = el("button", { type: "button", role: "tab", class: "chat-tab", "data-contact": contact.id,
    text: attributes.name || attributes.email || `${CHANNELS[contact.channel] ?? contact.channel} ${open.size + 1}` });
  button.addEventListener("click", () => select(contact.id));
  tabs.append(button);
  chats.append(tab.root);
  open.set(contact.id, { tab, button });
  const list = tab.root.querySelector(".messages");
  if (list) {
    new MutationObserver(() => { if (!tab.root.classList.contains("active")) button.classList.add("unread"); })
      .observe(list, { childList: true });
  }
  select(contact.id);
  refreshEmpty();
  customerPanel(tab.root.querySelector(".customer"), contact.id).catch(() => {});
  helpdeskPanel(tab.root.querySelector(".customer"), contact, settings).catch(() => {});
  tab.open();
}

// --- start -----------------------------------------------------------------------------

async function restore() {
  // After a reload: the contacts this agent holds come back as tabs, offers as offers.
  const state = await api("GET", "/me/presence");
  showPresence(state);
  for (const contactId of state.contacts ?? []) {
    const contact = await api("GET", `/contacts/${contactId}`).catch(() => null);
    if (!contact) continue;
    if (contact.status === "offered") showOffer({ contact_id: contact.id, channel: contact.channel, queue_id: contact.queue_id, attributes: contact.attributes, expires_at: null });
    else if (contact.status === "assigned" || contact.status === "wrap_up") openChat(contact);
  }
}

new LiveSocket("/api/v1/agent/connection", {
  onState: (state, delay) => showConnection(connection, state, delay),
  onMessage: (frame) => {
    if (frame.type === "routing.offer") showOffer(frame.payload);
    else if (frame.type === "routing.presence") showPresence(frame.payload);
    else if (frame.type === "routing.offer.withdrawn") removeOffer(frame.payload.contact_id);
    else if (frame.type === "voice.call") {
      for (const entry of open.values()) if (entry.tab.call?.id === frame.payload.call_id) entry.tab.refresh?.();
    }
    else if (frame.type.startsWith("helpdesk.")) helpdeskFrame(frame);
  },
});

reachControl(document.getElementById("reach"));
notificationsBox(document.querySelector(".desk-side")).catch(() => {});
api("GET", "/canned-responses").then((list) => { canned.push(...list); }).catch(() => {});
restore().catch((error) => { connection.textContent = error.message; });
refreshEmpty();
