// The supervisor console: queues and agents, refreshed when the routing announces a change
// (and every few seconds, for the waiting times), and watching a conversation.
import { api, config } from "./api.js";
import { LiveSocket, showConnection } from "./live.js";
import { watchCalls } from "./calls.js";
import { helpdeskFrame, notificationsBox, supervisorCases } from "./helpdesk.js";
import { clock, duration, el, richText } from "./text.js";

const settings = config();
const names = new Map(settings.agents.map((a) => [a.id, a.name]));
const connection = document.getElementById("connection");
const REFRESH_MS = 5000;
let pending = null;
let watching = null;

function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`;
}

async function refreshQueues() {
  const rows = await api("GET", "/reporting/queues/live");
  document.querySelector("#queues tbody").replaceChildren(...rows.map((q) => {
    const level = el("td", { class: "sl", text: percent(q.service_level_today) });
    if (q.service_level_today !== null) level.dataset.ok = String(q.service_level_today >= q.sla_target);
    return el("tr", { "data-queue": q.queue_id },
      el("td", { text: q.name }), el("td", { class: "waiting", text: String(q.waiting) }),
      el("td", { class: "longest", text: duration(q.longest_wait_seconds) }),
      el("td", { class: "available", text: `${q.agents_available} / ${q.agents_signed_in}` }),
      el("td", { class: "offered", text: String(q.offered_today) }),
      el("td", { class: "answered", text: `${q.answered_today} (${q.answered_within_today} in ${q.sla_threshold_seconds} s)` }),
      el("td", { class: "abandoned", text: String(q.abandoned_today) }),
      level, el("td", { text: percent(q.sla_target) }));
  }));
}

async function refreshAgents() {
  const rows = await api("GET", "/presence");
  document.querySelector("#agents tbody").replaceChildren(...rows.map((a) => {
    const contacts = el("td");
    for (const contactId of a.contacts) {
      const button = el("button", { type: "button", class: "secondary watch", "data-contact": contactId, text: "Watch" });
      button.addEventListener("click", () => watch(contactId, a.agent_id));
      contacts.append(button, " ");
    }
    const state = a.activity === "away" && a.reason ? `away · ${a.reason}` : a.activity;
    return el("tr", { "data-agent": a.agent_id, "data-activity": a.activity },
      el("td", { text: names.get(a.agent_id) ?? a.agent_id }),
      el("td", { class: "state", text: state }),
      el("td", { text: a.since ? clock(a.since) : "—" }),
      el("td", { text: Object.entries(a.load).filter(([, n]) => n).map(([c, n]) => `${c} ${n}`).join(", ") || "—" }),
      contacts);
  }));
}

async function refresh() {
  pending = null;
  await Promise.allSettled([refreshQueues(), refreshAgents()]);
  document.body.dataset.refreshed = String(Date.now());
}

function soon() {
  if (!pending) pending = setTimeout(refresh, 300);
}

// --- watching a conversation -----------------------------------------------------------

async function conversationOf(contactId) {
  const contact = await api("GET", `/contacts/${contactId}`);
  if (contact.attributes?.conversation_id) return contact.attributes.conversation_id;
  const found = await api("GET", `/contacts/${contactId}/conversation`).catch(() => null);
  return found?.id ?? null;
}

async function watch(contactId, agentId) {
  watching?.socket.close();
  const box = document.getElementById("watch");
  const list = document.getElementById("watch-messages");
  const error = document.getElementById("watch-error");
  list.replaceChildren();
  error.hidden = true;
  box.hidden = false;
  document.getElementById("watch-title").textContent = `${names.get(agentId) ?? "agent"}'s contact`;
  const conversationId = await conversationOf(contactId).catch(() => null);
  if (!conversationId) {
    error.textContent = "This contact has no conversation to watch.";
    error.hidden = false;
    return;
  }
  const state = { conversationId, lastSeq: 0, seen: new Set() };
  state.socket = new LiveSocket(`/api/v1/conversations/${conversationId}/ws`, {
    query: () => `after=${state.lastSeq}`,
    onMessage: (frame) => {
      if (frame.type !== "message" || state.seen.has(frame.seq)) return;
      state.seen.add(frame.seq);
      state.lastSeq = Math.max(state.lastSeq, frame.seq);
      const item = el("li", { class: `msg from-${frame.author_type} kind-${frame.kind ?? "message"}` },
        el("span", { class: "meta", text: `${frame.author_name || frame.author_type} · ${clock(frame.created_at)}` }));
      const body = el("div", { class: "text" });
      richText(body, frame.text ?? "");
      item.append(body);
      list.append(item);
    },
  });
  watching = state;
}

document.getElementById("watch-close").addEventListener("click", () => {
  watching?.socket.close();
  watching = null;
  document.getElementById("watch").hidden = true;
});

document.getElementById("whisper").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!watching) return;
  const input = event.target.elements.text;
  try {
    await api("POST", `/conversations/${watching.conversationId}/whisper`, { text: input.value });
    input.value = "";
  } catch (failure) {
    const error = document.getElementById("watch-error");
    error.textContent = failure.message;
    error.hidden = false;
  }
});

new LiveSocket("/api/v1/supervisor/connection", {
  onState: (state, delay) => showConnection(connection, state, delay),
  onOpen: soon,
  onMessage: (frame) => {
    if (frame.type === "routing.state") soon();
    else if (frame.type.startsWith("helpdesk.")) { helpdeskFrame(frame); casesSoon(); }
  },
});
setInterval(refresh, REFRESH_MS);
refresh();

watchCalls(document.getElementById("calls"), names);

// The help desk: cases late or at risk, refreshed when one changes; the supervisor's
// notifications (escalations, SLA alerts).
let refreshCases = null;
let refreshNotes = null;
let casesPending = null;
function casesSoon() {
  if (!casesPending) casesPending = setTimeout(() => { casesPending = null; refreshCases?.(); refreshNotes?.(); }, 300);
}
supervisorCases(document.querySelector("main.page")).then((refresh) => { refreshCases = refresh; }).catch(() => {});
notificationsBox(document.querySelector("main.page")).then((reload) => { refreshNotes = reload; }).catch(() => {});
