// The CRM's customer panel: the person a contact was matched to, popped as soon as the
// offer arrives, with their history across media (newest first), pages viewed, notes and
// what the tenant's own CRM says. Everything user-supplied is shown as text.
import { api } from "./api.js";
import { el } from "./text.js";

const CHANNELS = { chat: "Chat", email: "Email", phone: "Call", webcall: "Web call", callback: "Callback", form: "Form", video: "Video call" };

function when(iso) {
  const date = new Date(iso);
  return isNaN(date) ? "" : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

function identities(person) {
  return person.identities.filter((i) => i.kind !== "visitor")
    .map((i) => `${i.value}${i.verified ? "" : " (unverified)"}`);
}

function timelineItems(card, limit) {
  const past = card.timeline.filter((item) => item.contact_id !== card.contact_id).slice(0, limit);
  if (!past.length) return [el("li", { class: "muted", text: "First contact" })];
  return past.map((item) => el("li", { class: `crm-item crm-${item.kind}`, "data-kind": item.kind, "data-channel": item.channel ?? "" },
    el("span", { class: "muted", text: when(item.at) }), " ",
    el("strong", { text: item.title ?? CHANNELS[item.channel] ?? item.kind }),
    item.status ? el("span", { class: "badge", text: item.status }) : "",
    item.summary ? el("div", { class: "crm-summary", text: item.summary }) : ""));
}

// The offer's pop: who is asking, at a glance, before the agent accepts.
export async function popOffer(offer, contactId) {
  const box = el("div", { class: "offer-person", "aria-live": "polite" });
  offer.append(box);
  const card = await api("GET", `/crm/contacts/${contactId}/card`).catch(() => null);
  if (!card?.person) return;
  const person = card.person;
  const known = card.timeline.filter((item) => item.kind === "contact" && item.contact_id !== contactId).length;
  box.replaceChildren(
    el("div", { class: "crm-name", text: person.name || identities(person)[0] || "Unnamed" }),
    el("div", { class: "muted crm-ids", text: identities(person).join(" · ") }),
    el("div", { class: "crm-known", text: known ? `${known} earlier contact${known > 1 ? "s" : ""}` : "First contact" }),
    el("ol", { class: "crm-timeline" }, ...timelineItems(card, 3)));
  const name = offer.querySelector(".offer-who");
  if (name && person.name) name.textContent = person.name;
}

// The record inside an accepted contact's tab.
export async function customerPanel(aside, contactId) {
  if (!aside) return;
  const panel = el("section", { class: "crm-panel", "data-contact": contactId });
  aside.prepend(panel);
  const render = async (withExternal) => {
    const card = await api("GET", `/crm/contacts/${contactId}/card${withExternal ? "?with_external=true" : ""}`);
    if (!card.person) { panel.replaceChildren(el("p", { class: "muted", text: "No record for this contact." })); return; }
    const person = card.person;
    const facts = el("dl", { class: "facts" },
      el("dt", { text: "Record" }), el("dd", { class: "crm-name", text: person.name || "Unnamed" }),
      el("dt", { text: "Identities" }), el("dd", { class: "crm-ids", text: identities(person).join(", ") || "—" }));
    if (person.company) facts.append(el("dt", { text: "Company" }), el("dd", { text: person.company.name }));
    if (person.tags.length) facts.append(el("dt", { text: "Tags" }), el("dd", { text: person.tags.join(", ") }));
    for (const field of card.custom_fields) {
      const value = person.custom[field.key];
      if (value !== undefined && value !== null) facts.append(el("dt", { text: field.label }), el("dd", { text: String(value) }));
    }
    const external = el("div", { class: "crm-external" });
    if (card.external?.data) {
      const list = el("dl", { class: "facts" });
      for (const [key, value] of Object.entries(card.external.data)) list.append(el("dt", { text: key }), el("dd", { text: Array.isArray(value) ? value.join(", ") : String(value ?? "") }));
      external.append(el("h4", { text: "Your CRM" }), list);
    } else if (card.external?.status === "unavailable") {
      external.append(el("p", { class: "muted", text: `Your CRM did not answer (${card.external.error ?? ""}).` }));
    }
    const pages = el("ol", { class: "crm-pages" }, ...card.pages.slice(0, 10).map((p) =>
      el("li", { title: p.url }, el("span", { text: p.title || p.url }), " ", el("span", { class: "muted", text: when(p.at) }))));
    const note = el("form", { class: "crm-note" },
      el("textarea", { name: "body", rows: "2", maxlength: "10000", placeholder: "Note on this customer", "aria-label": "Note on this customer" }),
      el("button", { type: "submit", class: "secondary", text: "Add note" }));
    note.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = note.elements.body.value.trim();
      if (!body) return;
      await api("POST", `/crm/people/${person.id}/notes`, { body }).catch(() => {});
      render(false);
    });
    panel.replaceChildren(
      el("h3", { text: "Customer record" }), facts, external,
      el("h4", { text: "History" }), el("ol", { class: "crm-timeline" }, ...timelineItems(card, 20)),
      ...(card.pages.length ? [el("h4", { text: "Pages viewed" }), pages] : []), note);
  };
  try {
    await render(false);
    render(true).catch(() => {}); // the tenant's CRM answers when it can
  } catch (error) {
    panel.replaceChildren(el("p", { class: "muted", text: `Customer record unavailable: ${error.message}` }));
  }
}
