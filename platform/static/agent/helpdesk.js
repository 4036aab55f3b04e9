// The help desk in the consoles: beside each contact, its case (open one, add the contact
// to one of the person's open cases, change status and priority, escalate, solve), the
// call script to follow, and the knowledge base's suggestions for what the customer wrote
// (send one into the chat, or put it in the email reply); the agent's notifications; and
// in the supervisor console, the cases that need attention. User content is shown as text.
import { api } from "./api.js";
import { el } from "./text.js";

const panels = new Map(); // contact id -> {refresh}
const METRICS = { first_response: "First response", next_response: "Next response", resolution: "Resolution" };

function slaBadges(sla) {
  return Object.entries(sla ?? {}).map(([metric, state]) => el("span", {
    class: `badge sla-${state.state}${state.state === "breached" ? " bad" : state.state === "at_risk" ? " warn" : state.state === "met" ? " ok" : ""}`,
    "data-metric": metric, text: `${METRICS[metric] ?? metric}: ${state.state.replace("_", " ")}` }));
}

function select(name, options, value, label) {
  const node = el("select", { name, "aria-label": label });
  for (const [optionValue, text] of options) {
    const option = el("option", { value: optionValue, text });
    if (optionValue === value) option.selected = true;
    node.append(option);
  }
  return node;
}

function failure(box, error) {
  box.textContent = error.message;
  box.hidden = false;
}

// --- the case ------------------------------------------------------------------------

function caseSection(panel, settings, refresh) {
  const section = el("section", { class: "hd-case" }, el("h4", { text: "Case" }));
  const error = el("p", { class: "error hd-error", role: "alert", hidden: "" });
  const slug = settings.slug;
  const contactId = panel.contact_id;
  // settings.me: the agent opening a case owns it.
  if (panel.case) {
    const item = panel.case;
    const link = el("a", { class: "hd-case-link", href: `/t/${slug}/agent/cases/${item.id}`, target: "_blank", rel: "noopener", text: `#${item.number} ${item.subject}` });
    const head = el("p", {}, link, " ", el("span", { class: "badge hd-status", text: item.status }));
    section.append(head, el("p", { class: "hd-sla" }, ...slaBadges(item.sla)));
    if (item.status === "closed") {
      section.append(el("p", { class: "muted", text: "Closed." }));
      return section;
    }
    if (item.status === "solved") {
      const reopen = el("button", { type: "button", class: "secondary hd-reopen", text: "Reopen" });
      reopen.addEventListener("click", async () => {
        try { await api("POST", `/helpdesk/cases/${item.id}/reopen`, {}); refresh(); } catch (e) { failure(error, e); }
      });
      section.append(el("p", { class: "muted", text: `Solved${item.resolution_code ? ` · ${item.resolution_code}` : ""}` }), reopen, error);
      return section;
    }
    const form = el("form", { class: "hd-case-form" },
      select("status", [["new", "New"], ["open", "Open"], ["pending", "Pending (waiting for the customer)"]], item.status, "Status"),
      select("priority", [["low", "Low"], ["normal", "Normal"], ["high", "High"], ["urgent", "Urgent"]], item.priority, "Priority"),
      el("button", { type: "submit", class: "secondary", text: "Save" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("PATCH", `/helpdesk/cases/${item.id}`, { status: form.elements.status.value, priority: form.elements.priority.value });
        refresh();
      } catch (e) { failure(error, e); }
    });
    const escalate = el("form", { class: "hd-escalate" },
      el("input", { name: "note", maxlength: "2000", placeholder: "Why escalate", "aria-label": "Why escalate" }),
      el("button", { type: "submit", class: "secondary", text: `Escalate (level ${item.level} → ${Math.min(item.level + 1, 4)})` }));
    escalate.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await api("POST", `/helpdesk/cases/${item.id}/escalate`, { note: escalate.elements.note.value }); refresh(); } catch (e) { failure(error, e); }
    });
    const solve = el("form", { class: "hd-solve" },
      select("code", [["", "Resolution…"], ...panel.resolution_codes.map((c) => [c.code, c.label])], "", "Resolution"),
      el("button", { type: "submit", text: "Solve" }));
    solve.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await api("POST", `/helpdesk/cases/${item.id}/solve`, { resolution_code: solve.elements.code.value || null }); refresh(); } catch (e) { failure(error, e); }
    });
    section.append(form, escalate, solve, error);
    return section;
  }
  const open = el("form", { class: "hd-open" },
    el("input", { name: "subject", maxlength: "300", placeholder: "Subject (from the conversation if empty)", "aria-label": "Case subject" }),
    select("priority", [["normal", "Normal"], ["low", "Low"], ["high", "High"], ["urgent", "Urgent"]], "normal", "Priority"));
  if (panel.categories.length) open.append(select("category", [["", "Category…"], ...panel.categories.map((c) => [c, c])], "", "Category"));
  open.append(el("button", { type: "submit", text: "Open a case" }));
  open.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { contact_id: contactId, owner_id: settings.me.id, priority: open.elements.priority.value };
    if (open.elements.subject.value.trim()) body.subject = open.elements.subject.value.trim();
    if (open.elements.category?.value) body.category = open.elements.category.value;
    try { await api("POST", "/helpdesk/cases", body); refresh(); } catch (e) { failure(error, e); }
  });
  section.append(open);
  if (panel.open_cases.length) {
    const add = el("form", { class: "hd-add" },
      select("case", panel.open_cases.map((c) => [c.id, `#${c.number} ${c.subject}`]), panel.open_cases[0].id, "Open case of this person"),
      el("button", { type: "submit", class: "secondary", text: "Add to this case" }));
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await api("POST", `/helpdesk/cases/${add.elements.case.value}/contacts`, { contact_id: contactId }); refresh(); } catch (e) { failure(error, e); }
    });
    section.append(add);
  }
  section.append(error);
  return section;
}

// --- the script ----------------------------------------------------------------------

function answerInput(step) {
  if (step.kind !== "question") return null;
  if (step.answer === "choice") return select("value", [["", "Choose…"], ...step.choices.map((c) => [c.value, c.label])], "", step.text);
  if (step.answer === "yes_no") return select("value", [["", "Choose…"], ["yes", "Yes"], ["no", "No"]], "", step.text);
  const type = { number: "number", date: "date" }[step.answer] ?? "text";
  return el("input", { name: "value", type, maxlength: "2000", "aria-label": step.text, ...(step.required ? { required: "" } : {}) });
}

function scriptSection(panel, refresh) {
  const section = el("section", { class: "hd-script" }, el("h4", { text: "Script" }));
  const error = el("p", { class: "error hd-error", role: "alert", hidden: "" });
  const running = panel.runs.find((r) => r.status === "in_progress");
  const done = panel.runs.filter((r) => r.status === "completed");
  if (running) {
    const steps = new Map(running.steps.map((s) => [s.id, s]));
    const step = steps.get(running.current);
    const form = el("form", { class: "hd-step", "data-step": step.id },
      el("p", { class: `hd-step-text kind-${step.kind}`, text: step.text }));
    const input = answerInput(step);
    if (input) form.append(input);
    form.append(el("button", { type: "submit", text: step.kind === "end" || !step.next && !step.choices.some((c) => c.next) ? "Finish" : "Next" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("POST", `/helpdesk/script-runs/${running.id}/answers`, { step: step.id, value: input ? input.value : null });
        refresh();
      } catch (e) { failure(error, e); }
    });
    section.append(el("p", { class: "muted", text: running.script_name }), form, error);
    return section;
  }
  for (const run of done) {
    const questions = new Map(run.steps.map((s) => [s.id, s.text]));
    section.append(el("p", { class: "muted", text: `${run.script_name}: done` }),
      el("dl", { class: "facts hd-answers" }, ...Object.entries(run.answers).flatMap(([k, v]) => [el("dt", { text: questions.get(k) ?? k }), el("dd", { text: String(v ?? "—") })])));
  }
  for (const script of panel.scripts) {
    const start = el("button", { type: "button", class: "secondary hd-start", "data-script": script.id, text: `Follow “${script.name}”` });
    start.addEventListener("click", async () => {
      try { await api("POST", "/helpdesk/script-runs", { script_id: script.id, contact_id: panel.contact_id }); refresh(); } catch (e) { failure(error, e); }
    });
    section.append(start);
  }
  if (!panel.scripts.length && !done.length) return null;
  section.append(error);
  return section;
}

// --- articles ------------------------------------------------------------------------

function articlesSection(root, contactId) {
  const section = el("section", { class: "hd-articles" }, el("h4", { text: "Articles" }));
  const list = el("ol", { class: "hd-suggestions", "aria-live": "polite" });
  const error = el("p", { class: "error hd-error", role: "alert", hidden: "" });
  const search = el("form", { class: "hd-search" },
    el("input", { type: "search", name: "q", maxlength: "200", placeholder: "Search the knowledge base", "aria-label": "Search the knowledge base" }));
  const emailBox = () => root.querySelector(".e-composer textarea");
  const show = (hits) => {
    list.replaceChildren(...(hits.length ? hits.map((hit) => {
      const item = el("li", { class: "hd-article", "data-article": hit.article_id },
        el("strong", { text: hit.title }), el("div", { class: "crm-summary", text: hit.snippet }));
      const send = el("button", { type: "button", class: "secondary hd-send", text: emailBox() ? "Put in the reply" : "Send" });
      send.addEventListener("click", async () => {
        error.hidden = true;
        try {
          const box = emailBox();
          if (box) {
            const article = await api("GET", `/helpdesk/kb/articles/${hit.article_id}`);
            const text = article.translations.find((t) => t.language === hit.language) ?? article.translations[0];
            box.value = `${box.value ? box.value + "\n\n" : ""}${text.title}\n\n${text.body_text}${hit.url ? "\n\n" + hit.url : ""}`;
            box.focus();
          } else {
            await api("POST", `/helpdesk/kb/articles/${hit.article_id}/send`, { contact_id: contactId, language: hit.language });
            send.textContent = "Sent";
            send.disabled = true;
          }
        } catch (e) { failure(error, e); }
      });
      item.append(send);
      return item;
    }) : [el("li", { class: "muted", text: "No article found." })]));
  };
  const suggest = async () => {
    try { show(await api("GET", `/helpdesk/contacts/${contactId}/suggestions`)); } catch (e) { failure(error, e); }
  };
  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = search.elements.q.value.trim();
    if (!q) { suggest(); return; }
    try { show(await api("GET", `/helpdesk/kb/search?q=${encodeURIComponent(q)}`)); } catch (e) { failure(error, e); }
  });
  section.append(search, list, error);
  // Suggestions follow the conversation: again a moment after the customer writes.
  let timer = null;
  const messages = root.querySelector(".messages");
  if (messages) {
    new MutationObserver(() => {
      clearTimeout(timer);
      if (!search.elements.q.value.trim()) timer = setTimeout(suggest, 800);
    }).observe(messages, { childList: true });
  }
  suggest();
  return section;
}

// --- the panel beside a contact ------------------------------------------------------

export async function helpdeskPanel(aside, contact, settings) {
  if (!aside) return;
  const box = el("div", { class: "hd-panel", "data-contact": contact.id });
  const articles = articlesSection(aside.closest(".chat") ?? aside, contact.id);
  // Below the customer's record when the CRM's panel is there, else first.
  const record = aside.querySelector(".crm-panel");
  if (record) record.after(box);
  else aside.prepend(box);
  box.after(articles);
  const refresh = async () => {
    try {
      const panel = await api("GET", `/helpdesk/contacts/${contact.id}/panel`);
      box.dataset.case = panel.case?.id ?? "";
      const script = scriptSection(panel, refresh);
      box.replaceChildren(caseSection(panel, settings, refresh), ...(script ? [script] : []));
    } catch (error) {
      box.replaceChildren(el("p", { class: "muted", text: `Help desk unavailable: ${error.message}` }));
    }
  };
  panels.set(contact.id, { refresh, box });
  await refresh();
}

// --- live frames and notifications ---------------------------------------------------

let notificationList = null;

export function helpdeskFrame(frame) {
  if (frame.type === "helpdesk.case") {
    for (const panel of panels.values()) if (panel.box.dataset.case === frame.payload.case_id) panel.refresh();
  } else if (frame.type === "helpdesk.notification" && notificationList) {
    notificationList.prepend(notificationItem(frame.payload));
    notificationList.closest(".hd-notifications").dataset.unread = String(notificationList.children.length);
  }
}

function notificationItem(note) {
  const slug = location.pathname.split("/")[2];
  const item = el("li", { class: `hd-note kind-${note.kind}`, "data-case": note.case_id ?? "" });
  item.append(note.case_id
    ? el("a", { href: `/t/${slug}/agent/cases/${note.case_id}`, target: "_blank", rel: "noopener", text: note.title })
    : el("span", { text: note.title }));
  if (note.body) item.append(el("div", { class: "crm-summary", text: note.body }));
  return item;
}

// Returns a function that reads the unread notifications again (the supervisor console
// calls it when a case changes: its live connection carries the supervisors' audience,
// not each person's).
export async function notificationsBox(parent) {
  if (!parent) return () => {};
  const section = el("section", { class: "hd-notifications", "data-unread": "0" }, el("h2", { text: "Notifications" }));
  notificationList = el("ol", { class: "hd-notes", "aria-live": "polite" });
  const clear = el("button", { type: "button", class: "secondary", text: "Mark all read" });
  clear.addEventListener("click", async () => {
    await api("POST", "/helpdesk/notifications/read-all").catch(() => {});
    notificationList.replaceChildren();
    section.dataset.unread = "0";
  });
  section.append(notificationList, clear);
  parent.append(section);
  const reload = async () => {
    const unread = await api("GET", "/helpdesk/notifications?unread=true").catch(() => []);
    notificationList.replaceChildren(...unread.map(notificationItem));
    section.dataset.unread = String(unread.length);
  };
  await reload();
  return reload;
}

// --- the supervisor console ----------------------------------------------------------

export async function supervisorCases(parent) {
  if (!parent) return () => {};
  const section = el("section", { class: "card", id: "cases-attention" }, el("h2", { text: "Cases needing attention" }));
  const body = el("tbody");
  section.append(el("table", {}, el("thead", {}, el("tr", {}, ...["#", "Subject", "Status", "Level", "SLA"].map((h) => el("th", { text: h })))), body));
  parent.append(section);
  const slug = location.pathname.split("/")[2];
  const refresh = async () => {
    const [breached, urgent] = await Promise.all([
      api("GET", "/helpdesk/cases?breached=true&status=new&status=open&status=pending&limit=20").catch(() => ({ items: [] })),
      api("GET", "/helpdesk/cases?priority=urgent&status=new&status=open&limit=20").catch(() => ({ items: [] })),
    ]);
    const seen = new Set();
    const rows = [...breached.items, ...urgent.items, ...(await api("GET", "/helpdesk/cases?status=new&status=open&status=pending&limit=50").catch(() => ({ items: [] }))).items
      .filter((c) => Object.values(c.sla).some((s) => s.state === "at_risk") || c.escalations > 0)]
      .filter((c) => !seen.has(c.id) && seen.add(c.id));
    body.replaceChildren(...(rows.length ? rows.map((c) => el("tr", { "data-case": c.id },
      el("td", { text: String(c.number) }),
      el("td", {}, el("a", { href: `/t/${slug}/agent/cases/${c.id}`, text: c.subject })),
      el("td", { text: c.status }), el("td", { text: String(c.level) }),
      el("td", {}, ...slaBadges(c.sla)))) : [el("tr", {}, el("td", { colspan: "5", class: "muted", text: "Nothing late or at risk." }))]));
  };
  await refresh();
  return refresh;
}
