// Calls going on, for supervisors: who is on each, for how long, and listen, whisper to
// the agent, or join, from this console (or the supervisor's own phone, if they set one).
import { api } from "./api.js";
import { browserLeg, closeLeg, phones } from "./voice.js";
import { duration, el } from "./text.js";

const REFRESH_MS = 3000;
const MODES = [["listen", "Listen"], ["whisper", "Whisper"], ["join", "Join"]];

export function watchCalls(section, names) {
  if (!section) return;
  const body = section.querySelector("tbody");
  const status = section.querySelector(".calls-status");
  const audio = section.querySelector("audio");
  let current = null; // { callId, leg, mode }

  function agentsOf(call) {
    return call.legs.filter((leg) => leg.role === "agent" && !leg.ended_at)
      .map((leg) => names.get(leg.user_id) ?? "Agent").join(", ") || "—";
  }

  function row(call) {
    const since = call.answered_at ?? call.created_at;
    const actions = el("td", { class: "actions" });
    for (const [mode, label] of MODES) {
      const button = el("button", { type: "button", class: "secondary", "data-mode": mode, text: label });
      if (current?.callId === call.id && current.mode === mode) button.setAttribute("aria-pressed", "true");
      button.addEventListener("click", () => supervise(call, mode));
      actions.append(button);
    }
    if (current?.callId === call.id) {
      const leave = el("button", { type: "button", class: "danger", text: "Leave" });
      leave.addEventListener("click", () => stop());
      actions.append(leave);
    }
    return el("tr", { "data-call": call.id },
      el("td", { text: { webcall: "Web call", callback: "Callback", inbound: "Inbound" }[call.kind] ?? call.kind }),
      el("td", { text: call.customer_number || call.attributes?.name || "Visitor" }),
      el("td", { text: agentsOf(call) }),
      el("td", { text: call.on_hold ? "on hold" : call.status }),
      el("td", { text: duration((Date.now() - new Date(since)) / 1000) }),
      actions);
  }

  async function refresh() {
    try {
      const calls = await api("GET", "/voice/calls");
      body.replaceChildren(...calls.map(row));
      section.querySelector(".calls-empty").hidden = calls.length > 0;
    } catch {
      section.hidden = true;
    }
  }

  async function supervise(call, mode) {
    try {
      if (current?.callId === call.id) {
        await api("POST", `/voice/calls/${call.id}/mode`, { mode });
        current.mode = mode;
      } else {
        if (current) await stop();
        const reach = await api("GET", "/voice/me/reach");
        let leg = null;
        if (reach.mode === "browser") leg = await browserLeg({ audio });
        const answer = await api("POST", `/voice/calls/${call.id}/supervise`, { mode, sdp: leg?.offer ?? null });
        if (leg) {
          await leg.pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
          phones[call.id] = leg.pc;
        }
        current = { callId: call.id, leg, mode };
      }
      status.textContent = `${MODES.find(([m]) => m === mode)[1]}ing to a call`;
    } catch (error) {
      status.textContent = error.message;
    }
    refresh();
  }

  async function stop() {
    if (!current) return;
    const { callId, leg } = current;
    current = null;
    closeLeg(leg);
    await api("POST", `/voice/calls/${callId}/hangup`).catch(() => {});
    status.textContent = "";
    refresh();
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
}
