// A WebSocket that comes back: reconnects with exponential backoff and jitter (so a
// restarted server is not hit by every console at once), pings to keep proxies from
// closing an idle connection, and tells the page its state.
export class LiveSocket {
  constructor(path, { onMessage, onState, onOpen, pingEvery = 25000, query } = {}) {
    this.path = path;
    this.query = query ?? (() => "");
    this.onMessage = onMessage ?? (() => {});
    this.onState = onState ?? (() => {});
    this.onOpen = onOpen ?? (() => {});
    this.pingEvery = pingEvery;
    this.attempt = 0;
    this.closed = false;
    this.socket = null;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = this.query();
    return `${scheme}//${location.host}${this.path}${query ? "?" + query : ""}`;
  }

  connect() {
    this.onState("connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.onState("open");
      this.onOpen();
      this.timer = setInterval(() => this.send({ type: "ping" }), this.pingEvery);
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      this.onMessage(frame);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(this.timer);
      if (this.socket !== socket) return;
      if (this.closed || event.code === 4401 || event.code === 4403 || event.code === 4404) {
        this.onState(this.closed ? "closed" : "refused");
        return;
      }
      const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      this.onState("waiting", delay);
      this.retry = setTimeout(() => this.connect(), delay);
    });
  }

  send(frame) {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  close() {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.timer);
    this.socket?.close(1000);
  }
}

export function showConnection(element, state, delay) {
  element.dataset.state = state;
  element.textContent = {
    connecting: "Connecting…",
    open: "Connected",
    waiting: `Connection lost; trying again in ${Math.ceil((delay ?? 0) / 1000)} s`,
    refused: "Signed out: reload the page to sign in again",
    closed: "Disconnected",
  }[state];
}
