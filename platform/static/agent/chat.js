// One accepted contact in its tab: the conversation (resumed from the last sequence number
// seen, so a dropped connection loses and repeats nothing), the customer panel, canned
// responses, notes, page push, transfer and wrap-up.
import { api } from "./api.js";
import { LiveSocket } from "./live.js";
import { clock, el, richText } from "./text.js";

const TYPING_IDLE_MS = 3000;

export class ChatTab {
  constructor({ contact, settings, canned, onClose }) {
    this.contact = contact;
    this.settings = settings;
    this.canned = canned;
    this.onClose = onClose;
    this.lastSeq = 0;
    this.seen = new Set();
    this.pending = new Map(); // client_id -> element, until the server numbers it
    // Sends go out one after another: two requests in flight could be numbered in the
    // other order, and the customer would read the agent's lines swapped.
    this.outgoing = Promise.resolve();
    this.conversationId = null;
    this.socket = null;
    this.root = document.getElementById("chat-template").content.firstElementChild.cloneNode(true);
    this.root.dataset.contact = contact.id;
    this.q = (selector) => this.root.querySelector(selector);
    this.bind();
  }

  async open() {
    this.fillTransfer();
    this.fillCodes();
    await Promise.allSettled([this.loadCustomer(), this.loadHistory()]);
    this.conversationId = await this.findConversation();
    if (!this.conversationId) {
      this.systemLine("This contact has no conversation here (not a chat).");
      return;
    }
    const path = `/api/v1/conversations/${this.conversationId}/ws`;
    this.socket = new LiveSocket(path, {
      query: () => `after=${this.lastSeq}`,
      onMessage: (frame) => this.onFrame(frame),
      onState: (state) => { this.root.dataset.connection = state; },
    });
  }

  async findConversation() {
    const attributes = this.contact.attributes ?? {};
    if (attributes.conversation_id) return attributes.conversation_id;
    try {
      const found = await api("GET", `/contacts/${this.contact.id}/conversation`);
      return found?.id ?? null;
    } catch {
      return null;
    }
  }

  // --- conversation --------------------------------------------------------------------

  onFrame(frame) {
    switch (frame.type) {
      case "message": return this.showMessage(frame);
      case "ack": return this.acked(frame);
      case "typing":
        if (frame.author_type === "visitor") this.q(".typing").hidden = !frame.typing;
        return;
      case "read":
        if (frame.reader === "visitor") this.markRead(frame.seq);
        return;
      case "ended":
        this.systemLine(frame.by === "visitor" ? "The customer left the conversation." : "The conversation has ended.");
        this.root.classList.add("ended");
        return;
      case "visitor.page":
      case "page":
        return this.showPage(frame.payload ?? frame);
      default:
        return;
    }
  }

  showMessage(frame) {
    if (typeof frame.seq === "number") {
      if (this.seen.has(frame.seq)) return;
      this.seen.add(frame.seq);
      this.lastSeq = Math.max(this.lastSeq, frame.seq);
    }
    let item = frame.client_id ? this.pending.get(frame.client_id) : null;
    if (item) {
      this.pending.delete(frame.client_id);
      item.classList.remove("pending");
      item.dataset.seq = frame.seq;
      return;
    }
    const kind = frame.kind ?? "message";
    item = el("li", { class: `msg from-${frame.author_type} kind-${kind}`, "data-seq": String(frame.seq) });
    const who = frame.author_name || { visitor: "Customer", agent: "Agent", supervisor: "Supervisor", system: "" }[frame.author_type] || "";
    const label = kind === "note" ? " · internal note" : kind === "whisper" ? " · whisper" : "";
    item.append(el("span", { class: "meta", text: `${who}${label} · ${clock(frame.created_at)}` }));
    const body = el("div", { class: "text" });
    richText(body, frame.text ?? "");
    item.append(body);
    for (const file of frame.attachments ?? []) {
      const link = el("a", { class: "attachment", href: `/api/v1/conversations/${this.conversationId}/attachments/${file.id}`, target: "_blank", rel: "noopener", text: `📎 ${file.name}` });
      item.append(link);
    }
    item.append(el("span", { class: "receipt" }));
    this.insert(item);
    if (frame.author_type === "visitor") {
      this.q(".typing").hidden = true;
      this.markSeen(frame.seq);
    }
  }

  insert(item) {
    const list = this.q(".messages");
    const seq = Number(item.dataset.seq);
    // Messages fetched on resume may arrive after live ones: keep the list in order.
    const later = [...list.children].find((li) => Number(li.dataset.seq) > seq);
    list.insertBefore(item, later ?? null);
    list.scrollTop = list.scrollHeight;
  }

  acked(frame) {
    const item = this.pending.get(frame.client_id);
    if (!item) return;
    this.pending.delete(frame.client_id);
    item.classList.remove("pending");
    item.dataset.seq = frame.seq;
    this.seen.add(frame.seq);
  }

  markRead(seq) {
    for (const item of this.q(".messages").querySelectorAll(".from-agent")) {
      if (Number(item.dataset.seq) <= seq) item.classList.add("read");
    }
  }

  markSeen(seq) {
    if (document.visibilityState === "visible" && this.root.classList.contains("active")) {
      this.socket?.send({ type: "read", seq });
    } else {
      this.unreadSeq = seq;
    }
  }

  shown() {
    if (this.unreadSeq) {
      this.socket?.send({ type: "read", seq: this.unreadSeq });
      this.unreadSeq = null;
    }
  }

  systemLine(text) {
    this.q(".messages").append(el("li", { class: "msg system", "data-seq": String(this.lastSeq + 0.5), text }));
  }

  async send(text, { note = false, attachments = [] } = {}) {
    const clientId = crypto.randomUUID();
    const kind = note ? "note" : "message";
    const item = el("li", { class: `msg from-agent kind-${kind} pending`, "data-seq": String(Number.MAX_SAFE_INTEGER) });
    item.append(el("span", { class: "meta", text: `${this.settings.me.name}${note ? " · internal note" : ""} · ${clock(new Date().toISOString())}` }));
    const body = el("div", { class: "text" });
    richText(body, text);
    item.append(body, el("span", { class: "receipt" }));
    this.pending.set(clientId, item);
    this.q(".messages").append(item);
    const message = { client_id: clientId, text, kind, attachments };
    const sent = this.outgoing.then(() => this.post(message, item));
    this.outgoing = sent.catch(() => undefined);
    return sent;
  }

  async post(message, item) {
    const clientId = message.client_id;
    // The client id makes a retried send idempotent: a lost response never doubles it.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      try {
        const stored = await api("POST", `/conversations/${this.conversationId}/messages`, message);
        if (stored?.seq !== undefined) {
          this.acked({ client_id: clientId, seq: stored.seq });
          const list = this.q(".messages");
          item.remove();
          list.insertBefore(item, [...list.children].find((li) => Number(li.dataset.seq) > stored.seq) ?? null);
        }
        return;
      } catch (error) {
        if (error.status && error.status < 500) { this.fail(error); item.classList.add("failed"); return; }
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
    item.classList.add("failed");
  }

  typing(active) {
    if (this.typingSent === active) return;
    this.typingSent = active;
    this.socket?.send({ type: "typing", typing: active });
  }

  // --- customer panel ------------------------------------------------------------------

  async loadCustomer() {
    const attributes = this.contact.attributes ?? {};
    const visitorId = attributes.visitor_id;
    this.showPage({ url: attributes.current_page ?? attributes.current_url, title: attributes.current_title ?? attributes.page_title });
    this.q(".c-language").textContent = attributes.language ?? "—";
    if (!visitorId) {
      this.q(".c-name").textContent = attributes.name ?? "—";
      this.q(".c-identity").textContent = attributes.email ?? "—";
      this.q(".push-page").hidden = true;
      return;
    }
    const [visitor, pages] = await Promise.all([
      api("GET", `/visitors/${visitorId}`).catch(() => null),
      api("GET", `/visitors/${visitorId}/pages`).catch(() => []),
    ]);
    if (visitor) {
      this.q(".c-name").textContent = visitor.name || "Anonymous visitor";
      this.q(".c-identity").textContent = visitor.email || visitor.external_id || "—";
      this.q(".c-verified").textContent = visitor.verified ? "Verified identity" : "Not verified";
      this.q(".c-verified").dataset.verified = String(Boolean(visitor.verified));
      this.q(".c-language").textContent = visitor.language || attributes.language || "—";
      if (visitor.current_url) this.showPage({ url: visitor.current_url, title: visitor.current_title });
    }
    const list = this.q(".c-pages");
    list.replaceChildren(...(pages ?? []).map((view) =>
      el("li", { title: view.url }, el("span", { text: view.title || view.url }), " ", el("span", { class: "muted", text: clock(view.at) }))));
  }

  showPage(page) {
    if (!page?.url) return;
    const link = this.q(".c-page-link");
    if (!/^https?:\/\//.test(page.url)) return;
    link.href = page.url;
    link.textContent = page.title ? `${page.title} — ${page.url}` : page.url;
    const pages = this.q(".c-pages");
    if (pages.firstElementChild?.title !== page.url && page.at) {
      pages.prepend(el("li", { title: page.url }, el("span", { text: page.title || page.url }), " ", el("span", { class: "muted", text: clock(page.at) })));
    }
  }

  async loadHistory() {
    const key = this.contact.customer_key;
    const list = this.q(".c-history");
    if (!key) { list.replaceChildren(el("li", { class: "muted", text: "Unknown customer" })); return; }
    const page = await api("GET", `/contacts?customer_key=${encodeURIComponent(key)}&limit=10`);
    const past = (page?.items ?? []).filter((c) => c.id !== this.contact.id);
    list.replaceChildren(...(past.length ? past.map((c) =>
      el("li", { text: `${new Date(c.created_at).toLocaleDateString()} · ${c.channel} · ${c.outcome || c.status}` }))
      : [el("li", { class: "muted", text: "First contact" })]));
  }

  // --- actions -------------------------------------------------------------------------

  fillTransfer() {
    const select = this.q(".transfer select");
    const group = (label, items, prefix) => {
      const node = el("optgroup", { label });
      for (const item of items) node.append(el("option", { value: `${prefix}:${item.id}`, text: item.name }));
      return node;
    };
    select.append(
      el("option", { value: "", text: "Transfer to…" }),
      group("Queues", this.settings.queues, "queue"),
      group("Agents", this.settings.agents.filter((a) => a.id !== this.settings.me.id), "agent"),
      group("Skills", this.settings.skills, "skill"));
  }

  fillCodes() {
    const select = this.q(".wrap-up select");
    for (const code of this.settings.wrap_up_codes) select.append(el("option", { value: code.code, text: code.label }));
  }

  fail(error) {
    const box = this.q(".chat-error");
    box.textContent = error.message;
    box.hidden = false;
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

  bind() {
    const composer = this.q(".composer");
    const textarea = composer.elements.text;
    let idle = null;
    textarea.addEventListener("input", () => {
      this.showCanned(textarea.value);
      this.typing(textarea.value.length > 0);
      clearTimeout(idle);
      idle = setTimeout(() => this.typing(false), TYPING_IDLE_MS);
    });
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); composer.requestSubmit(); }
    });
    composer.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = textarea.value.trim();
      if (!text || !this.conversationId) return;
      this.send(text, { note: composer.elements.note.checked });
      textarea.value = "";
      this.typing(false);
      this.showCanned("");
    });
    composer.elements.file.addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file || !this.conversationId) return;
      const form = new FormData();
      form.append("file", file);
      try {
        const stored = await api("POST", `/conversations/${this.conversationId}/attachments`, form);
        await this.send(file.name, { attachments: [stored.id] });
      } catch (error) {
        this.fail(error);
      }
      event.target.value = "";
    });
    this.q(".push-page").addEventListener("submit", async (event) => {
      event.preventDefault();
      const url = event.target.elements.url.value.trim();
      const visitorId = this.contact.attributes?.visitor_id;
      try {
        await api("POST", `/visitors/${visitorId}/push-page`, { url });
        this.systemLine(`Page sent to the visitor: ${url}`);
        event.target.reset();
      } catch (error) {
        this.fail(error);
      }
    });
    this.q(".transfer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const [kind, id] = event.target.elements.target.value.split(":");
      const body = kind === "queue" ? { queue_id: id } : kind === "agent" ? { agent_id: id } : { required_skills: { [id]: 1 } };
      if (await this.act("transfer", body)) this.close();
    });
    this.q(".wrap-up").addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = event.target.elements.code.value || null;
      if (await this.act("wrap-up", { wrap_up_code: code })) this.root.classList.add("wrapping");
    });
    this.q(".complete").addEventListener("click", async () => {
      const code = this.q(".wrap-up select").value || null;
      if (await this.act("complete", { wrap_up_code: code })) this.close();
    });
  }

  showCanned(value) {
    const box = this.q(".canned-list");
    const match = /^\/(\S*)$/.exec(value);
    if (!match) { box.hidden = true; return; }
    const language = this.contact.attributes?.language;
    const choices = this.canned
      .filter((c) => c.shortcut.startsWith(match[1].toLowerCase()))
      .filter((c) => !c.language || !language || c.language === language)
      .slice(0, 8);
    box.replaceChildren(...choices.map((c) => {
      const button = el("button", { type: "button", class: "canned secondary" },
        el("strong", { text: `/${c.shortcut}` }), ` ${c.title}`);
      button.addEventListener("click", () => {
        const textarea = this.q(".composer textarea");
        textarea.value = c.body.replaceAll("{name}", this.q(".c-name").textContent.replace("—", "").trim());
        box.hidden = true;
        textarea.focus();
      });
      return button;
    }));
    box.hidden = choices.length === 0;
  }

  close() {
    this.socket?.close();
    this.onClose(this);
  }
}
