// One accepted email contact in its tab: the thread (new part of each message first, the
// quoted text and signature folded), attachments, the reply composer with files, each
// reply's sending status (a failure shows with its reason and can be sent again), and the
// contact's transfer and wrap-up. New mail and statuses arrive on the thread's socket.
import { api } from "./api.js";
import { LiveSocket } from "./live.js";
import { el, richText } from "./text.js";

const STATUS = { queued: "Sending…", sending: "Sending…", sent: "Sent", failed: "Not sent", bounced: "Bounced", received: "" };
const RANK = { queued: 0, sending: 1, sent: 2, failed: 2, bounced: 3, received: 0 };
const AUTO = { auto_reply: "automatic reply", list: "mailing list", bounce: "delivery failure", loop: "our own mail" };

export class EmailTab {
  constructor({ contact, settings, onClose }) {
    this.contact = contact;
    this.settings = settings;
    this.onClose = onClose;
    this.threadId = null;
    this.items = new Map(); // message id -> element
    this.files = [];
    this.root = document.getElementById("email-template").content.firstElementChild.cloneNode(true);
    this.root.dataset.contact = contact.id;
    this.q = (selector) => this.root.querySelector(selector);
    this.bind();
  }

  async open() {
    this.fillActions();
    this.threadId = this.contact.attributes?.email_thread_id
      ?? (await api("GET", `/contacts/${this.contact.id}/email-thread`).catch(() => null))?.id;
    if (!this.threadId) { this.fail({ message: "This contact has no email thread." }); return; }
    this.socket = new LiveSocket(`/api/v1/email/threads/${this.threadId}/ws`, {
      onMessage: (frame) => this.onFrame(frame),
      onOpen: () => this.load(),
      onState: (state) => { this.root.dataset.connection = state; },
    });
  }

  async load() {
    try {
      const thread = await api("GET", `/email/threads/${this.threadId}`);
      this.q(".e-subject").textContent = thread.subject;
      this.q(".e-customer").textContent = thread.customer_name ? `${thread.customer_name} <${thread.customer_address}>` : thread.customer_address;
      this.q(".e-bounced").hidden = !thread.customer_bounced;
      for (const message of thread.messages) this.show(message);
    } catch (error) {
      this.fail(error);
    }
  }

  onFrame(frame) {
    if (frame.type === "message") this.show(frame);
    else if (frame.type === "status") this.status(frame);
  }

  show(message) {
    if (this.items.has(message.id)) { this.status(message); return; }
    const item = el("li", { class: `email from-${message.direction === "out" ? "agent" : "customer"}`, "data-message": message.id });
    const who = message.direction === "out" ? (message.author_name || message.from_name || "Us") : (message.from_name || message.from_address);
    const auto = message.auto_kind ? ` · ${AUTO[message.auto_kind] ?? message.auto_kind}` : "";
    const kind = message.kind === "ack" ? " · acknowledgement" : "";
    item.append(el("span", { class: "meta", text: `${who} · ${new Date(message.created_at).toLocaleString()}${auto}${kind}` }));
    const body = el("div", { class: "text" });
    richText(body, message.new_text || "");
    item.append(body);
    if (message.quoted_text || message.signature) {
      const more = el("details", { class: "quoted" }, el("summary", { text: "Show the quoted text" }));
      const pre = el("div", { class: "text muted" });
      richText(pre, [message.signature, message.quoted_text].filter(Boolean).join("\n\n"));
      more.append(pre);
      item.append(more);
    }
    for (const file of message.attachments ?? []) {
      if (file.skipped) { item.append(el("span", { class: "attachment muted", text: `📎 ${file.name} (too large, left out)` })); continue; }
      item.append(el("a", { class: "attachment", href: `/api/v1/email/attachments/${file.id}`, target: "_blank", rel: "noopener", text: `📎 ${file.name}` }));
    }
    if (message.direction === "out") {
      item.append(el("span", { class: "e-status" }));
      const again = el("button", { type: "button", class: "secondary retry", text: "Send again", hidden: "" });
      again.addEventListener("click", async () => {
        try { this.status(await api("POST", `/email/messages/${message.id}/retry`)); } catch (error) { this.fail(error); }
      });
      item.append(again);
    }
    this.items.set(message.id, item);
    this.q(".emails").append(item);
    this.status(message);
  }

  status(message) {
    const item = this.items.get(message.id);
    if (!item || !item.querySelector(".e-status")) return;
    // Frames and responses may cross: a status never goes back within one attempt.
    const order = [message.attempts ?? 0, RANK[message.status] ?? 0];
    const seen = [Number(item.dataset.attempts ?? -1), RANK[item.dataset.status] ?? -1];
    if (order[0] < seen[0] || (order[0] === seen[0] && order[1] < seen[1])) return;
    item.dataset.attempts = String(order[0]);
    item.dataset.status = message.status;
    const failed = message.status === "failed" || message.status === "bounced";
    item.querySelector(".e-status").textContent = `${STATUS[message.status] ?? message.status}${failed && message.last_error ? ` — ${message.last_error}` : ""}`;
    item.classList.toggle("failed", failed);
    item.querySelector(".retry").hidden = message.status !== "failed";
  }

  async send(text) {
    const clientId = crypto.randomUUID();
    const body = { text, client_id: clientId, attachments: this.files.map((f) => f.id) };
    for (let attempt = 0; attempt < 5; attempt += 1) {
      try {
        const stored = await api("POST", `/email/threads/${this.threadId}/replies`, body);
        this.show(stored);
        this.files = [];
        this.q(".e-files").replaceChildren();
        return true;
      } catch (error) {
        if (error.status && error.status < 500) { this.fail(error); return false; }
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
    this.fail({ message: "The reply could not be stored; try again." });
    return false;
  }

  fillActions() {
    const select = this.q(".transfer select");
    select.append(el("option", { value: "", text: "Transfer to…" }));
    for (const queue of this.settings.queues) select.append(el("option", { value: `queue:${queue.id}`, text: queue.name }));
    for (const agent of this.settings.agents.filter((a) => a.id !== this.settings.me.id)) select.append(el("option", { value: `agent:${agent.id}`, text: agent.name }));
    const codes = this.q(".wrap-up select");
    for (const code of this.settings.wrap_up_codes) codes.append(el("option", { value: code.code, text: code.label }));
  }

  fail(error) {
    const box = this.q(".chat-error");
    box.textContent = error.message;
    box.hidden = false;
  }

  bind() {
    const composer = this.q(".e-composer");
    composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = composer.elements.text.value.trim();
      if (!text || !this.threadId) return;
      composer.elements.send.disabled = true;
      if (await this.send(text)) composer.elements.text.value = "";
      composer.elements.send.disabled = false;
    });
    composer.elements.file.addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file || !this.threadId) return;
      const form = new FormData();
      form.append("file", file);
      try {
        const stored = await api("POST", `/email/threads/${this.threadId}/attachments`, form);
        this.files.push(stored);
        this.q(".e-files").append(el("li", { text: `📎 ${stored.filename}` }));
      } catch (error) {
        this.fail(error);
      }
      event.target.value = "";
    });
    this.q(".transfer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const [kind, id] = event.target.elements.target.value.split(":");
      if (!id) return;
      if (await this.act("transfer", kind === "queue" ? { queue_id: id } : { agent_id: id })) this.close();
    });
    this.q(".complete").addEventListener("click", async () => {
      const code = this.q(".wrap-up select").value || null;
      if (await this.act("complete", { wrap_up_code: code })) this.close();
    });
  }

  async act(action, body) {
    this.q(".chat-error").hidden = true;
    try {
      return await api("POST", `/contacts/${this.contact.id}/${action}`, body);
    } catch (error) {
      this.fail(error);
      return null;
    }
  }

  close() {
    this.socket?.close();
    this.onClose(this);
  }
}
