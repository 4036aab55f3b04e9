// The softphone: a voice contact in its tab. The agent joins the call from this console
// (WebRTC: the offer goes to the platform, which connects it to the call's switch through
// the gateway) or at the number or SIP address they set; mute, hold, hang up, blind or
// warm transfer, the same customer panel as a chat, and wrap-up. Voicemail contacts show
// the message. Supervisors use `listenTo` to listen, whisper or join.
import { api } from "./api.js";
import { ChatTab } from "./chat.js";
import { el } from "./text.js";

const POLL_MS = 1500;
const STATES = { ivr: "In the menu", waiting: "Waiting for an agent", scheduled: "Scheduled", connecting: "Connecting…", connected: "Connected", ended: "Call ended" };
export const phones = (window.plxPhones = window.plxPhones ?? {});
export const videos = (window.plxVideos = window.plxVideos ?? {});

// The browser's side of a leg: microphone, peer connection, every candidate gathered
// before the offer leaves (the platform relays it whole), the remote audio played.
export async function browserLeg({ audio, constraints = { audio: true } }) {
  const status = await api("GET", "/voice/status");
  if (!status.browser_calls) throw new Error("Calls from the console are not available on this platform.");
  const stream = await navigator.mediaDevices.getUserMedia(constraints);
  const pc = new RTCPeerConnection({ iceServers: status.ice_servers, iceTransportPolicy: status.ice_transport_policy || "all" });
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  pc.ontrack = (event) => { audio.srcObject = event.streams[0]; };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") { resolve(); return; }
    const timer = setTimeout(resolve, 4000);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
  return { pc, stream, offer: pc.localDescription.sdp };
}

export function closeLeg(leg) {
  leg?.pc?.close();
  leg?.stream?.getTracks().forEach((track) => track.stop());
}

export class VoiceTab {
  constructor({ contact, settings, onClose }) {
    this.contact = contact;
    this.settings = settings;
    this.onClose = onClose;
    this.call = null;
    this.leg = null;
    this.muted = false;
    this.held = false;
    this.root = document.getElementById("voice-template").content.firstElementChild.cloneNode(true);
    this.root.dataset.contact = contact.id;
    this.q = (selector) => this.root.querySelector(selector);
    this.bind();
  }

  // The customer panel is the chat's: the same facts, pages and history.
  loadCustomer() { return ChatTab.prototype.loadCustomer.call(this); }
  showPage(page) { return ChatTab.prototype.showPage.call(this, page); }
  loadHistory() { return ChatTab.prototype.loadHistory.call(this); }
  fillTransfer() { return ChatTab.prototype.fillTransfer.call(this); }
  fillCodes() { return ChatTab.prototype.fillCodes.call(this); }
  fail(error) { return ChatTab.prototype.fail.call(this, error); }
  act(action, body) { return ChatTab.prototype.act.call(this, action, body); }

  async open() {
    this.fillTransfer();
    this.fillCodes();
    this.q(".push-page").hidden = true;
    await Promise.allSettled([this.loadCustomer(), this.loadHistory()]);
    try {
      this.call = await api("GET", `/voice/contacts/${this.contact.id}/call`);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.show(this.call);
    if (this.contact.attributes?.voicemail_call_id) {
      this.root.classList.add("voicemail");
      const player = this.q(".v-voicemail");
      player.hidden = false;
      player.querySelector("audio").src = `/api/v1/voice/contacts/${this.contact.id}/voicemail`;
      return;
    }
    if (this.call.status !== "ended") await this.join();
    this.timer = setInterval(() => this.refresh(), POLL_MS);
  }

  async join() {
    const reach = await api("GET", "/voice/me/reach").catch(() => ({ mode: "browser" }));
    this.setState("Connecting…");
    try {
      let answered;
      if (reach.mode === "browser") {
        this.leg = await browserLeg({ audio: this.q(".v-audio") });
        phones[this.contact.id] = this.leg.pc;
        answered = await api("POST", `/voice/contacts/${this.contact.id}/answer`, { sdp: this.leg.offer });
        await this.leg.pc.setRemoteDescription({ type: "answer", sdp: answered.sdp });
        this.leg.pc.addEventListener("connectionstatechange", () => {
          if (this.leg?.pc.connectionState === "failed") this.fail(new Error("The audio connection failed."));
        });
      } else {
        answered = await api("POST", `/voice/contacts/${this.contact.id}/answer`, {});
        this.q(".v-reach").textContent = `Your phone rings: ${reach.display}`;
      }
      this.legId = answered.leg_id;
      this.show(answered.call);
    } catch (error) {
      closeLeg(this.leg);
      this.leg = null;
      this.fail(error);
    }
  }

  async refresh() {
    if (!this.call) return;
    try {
      this.show(await api("GET", `/voice/calls/${this.call.id}`));
    } catch {
      // The next round tries again.
    }
  }

  show(call) {
    this.call = call;
    const attributes = call.attributes ?? {};
    this.q(".v-number").textContent = call.customer_number || "—";
    this.q(".v-dialed").textContent = call.dialed_number || "—";
    this.q(".v-choice").textContent = attributes.ivr_choice || "—";
    const mine = (call.legs ?? []).filter((leg) => leg.user_id === this.settings.me.id && !leg.ended_at);
    const connected = mine.some((leg) => leg.status === "connected");
    const customer = (call.legs ?? []).filter((leg) => leg.role === "customer").pop();
    let state = STATES[call.status] ?? call.status;
    if (call.kind === "callback" && customer && customer.status === "ringing") state = "Calling the customer…";
    if (call.on_hold) state = "On hold";
    if (call.status !== "ended" && mine.length && !connected) state = "Ringing your phone…";
    if (call.status !== "ended" && !mine.length && this.legId) state = "You left the call";
    this.setState(state);
    this.root.dataset.status = call.status;
    this.root.dataset.connected = String(connected);
    if (call.answered_at && call.status !== "ended") {
      const seconds = Math.floor((Date.now() - new Date(call.answered_at)) / 1000);
      this.q(".v-timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    }
    this.q(".v-hold").textContent = call.on_hold ? "Resume" : "Hold";
    this.held = call.on_hold;
    if (call.has_recording) this.q(".v-recorded").hidden = false;
    if (call.video_offer && call.video_offer !== this.videoOffer && call.status !== "ended") {
      this.videoOffer = call.video_offer;
      this.answerVideo(call.video_offer).catch((error) => this.fail(error));
    }
    if (call.status === "ended") this.ended();
  }

  // Video goes browser to browser, beside the call's audio: the visitor offers, the
  // softphone answers with the agent's camera.
  async answerVideo(offer) {
    const status = await api("GET", "/voice/status");
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    this.video?.pc.close();
    const pc = new RTCPeerConnection({ iceServers: status.ice_servers, iceTransportPolicy: status.ice_transport_policy || "all" });
    this.video = { pc, stream };
    videos[this.contact.id] = pc;
    for (const track of stream.getVideoTracks()) pc.addTrack(track, stream);
    pc.ontrack = (event) => {
      const view = this.q(".v-video");
      view.srcObject = event.streams[0];
      view.hidden = false;
    };
    await pc.setRemoteDescription({ type: "offer", sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") { resolve(); return; }
      const timer = setTimeout(resolve, 4000);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
    await api("POST", `/voice/calls/${this.call.id}/video`, { sdp: pc.localDescription.sdp });
  }

  setState(text) { this.q(".v-state").textContent = text; }

  ended() {
    clearInterval(this.timer);
    closeLeg(this.leg);
    closeLeg(this.video);
    this.leg = null;
    this.video = null;
    this.root.classList.add("ended");
    this.q(".v-controls").hidden = true;
  }

  async control(path, body) {
    try {
      this.show(await api("POST", `/voice/calls/${this.call.id}/${path}`, body));
      return true;
    } catch (error) {
      this.fail(error);
      return false;
    }
  }

  bind() {
    this.q(".v-mute").addEventListener("click", async () => {
      const on = !this.muted;
      this.leg?.stream.getAudioTracks().forEach((track) => { track.enabled = !on; });
      if (await this.control("mute", { on })) {
        this.muted = on;
        this.q(".v-mute").textContent = on ? "Unmute" : "Mute";
      }
    });
    this.q(".v-hold").addEventListener("click", () => this.control("hold", { on: !this.held }));
    this.q(".v-hangup").addEventListener("click", async () => {
      await this.control("hangup");
      closeLeg(this.leg);
      this.leg = null;
    });
    this.q(".transfer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const [kind, id] = event.target.elements.target.value.split(":");
      const mode = event.target.elements.mode.value;
      const body = { mode, [kind === "queue" ? "queue_id" : kind === "agent" ? "agent_id" : "skill_id"]: id };
      if (await this.control("transfer", body)) {
        if (mode === "blind") { closeLeg(this.leg); this.leg = null; this.close(); }
        else this.setState("Transferring: you stay until the next agent joins, then hang up");
      }
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

  close() {
    clearInterval(this.timer);
    closeLeg(this.leg);
    closeLeg(this.video);
    delete phones[this.contact.id];
    delete videos[this.contact.id];
    this.onClose(this);
  }
}

// Where the signed-in person's calls ring, changed at any time from the console.
export function reachControl(form) {
  if (!form) return;
  const mode = form.elements.mode;
  const address = form.elements.address;
  const status = form.querySelector(".reach-status");
  const showAddress = () => { address.hidden = mode.value === "browser"; address.required = !address.hidden; };
  mode.addEventListener("change", showAddress);
  api("GET", "/voice/me/reach").then((reach) => {
    mode.value = reach.mode;
    address.value = reach.address;
    status.textContent = `Calls ring: ${reach.display}`;
    showAddress();
  }).catch(() => { form.hidden = true; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const reach = await api("PUT", "/voice/me/reach", { mode: mode.value, address: address.value });
      status.textContent = `Calls ring: ${reach.display}`;
    } catch (error) {
      status.textContent = error.message;
    }
  });
}
