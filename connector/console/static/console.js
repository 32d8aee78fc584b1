// The console's live behaviour: the session header's state, the live transcript with its
// markers, the live list and its search, times shown in the reader's zone, Enter to send,
// and the upgrade modal. Everything also works as plain forms and links.
(function () {
  "use strict";
  const inbox = document.querySelector(".inbox");
  const session = document.querySelector(".session[data-conversation]");
  const pane = document.getElementById("transcript-pane");
  const csrf = document.querySelector('input[name="csrf_token"]');

  // -- times -------------------------------------------------------------------------
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dayAndClock = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
  const withYear = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });

  function relative(date, now) {
    const minutes = Math.round((date - now) / 60000);
    if (minutes > 0) return minutes < 60 ? "in " + minutes + " min" : "in " + Math.round(minutes / 60) + " h";
    const ago = Math.floor((now - date) / 60000);
    if (ago < 1) return "just now";
    if (ago < 60) return ago + " min ago";
    return Math.floor(ago / 60) + " h ago";
  }

  // Today: relative ("5 min ago"); earlier: the date and time. The hover shows it in full.
  function showTimes(root) {
    const now = new Date();
    for (const element of (root || document).querySelectorAll("time[datetime]")) {
      const date = new Date(element.getAttribute("datetime"));
      if (isNaN(date)) continue;
      const today = date.toDateString() === now.toDateString();
      const text = today ? relative(date, now)
        : (date.getFullYear() === now.getFullYear() ? dayAndClock : withYear).format(date);
      if (element.textContent !== text) element.textContent = text;
      element.title = full.format(date) + (today ? " (" + clock.format(date) + ")" : "");
    }
  }

  // -- the session -------------------------------------------------------------------
  function stateLine(conversation) {
    if (conversation.status === "resolved") return "Resolved";
    return conversation.controller === "human" ? "A human is in charge" : "The AI is in charge";
  }

  // The list's tab follows the open conversation when its status changes (a reopen, a resolve).
  function followTab(status) {
    if (!inbox || inbox.dataset.tab === status) return;
    inbox.dataset.tab = status;
    const field = document.querySelector('.search input[name="tab"]');
    if (field) field.value = status;
    for (const link of document.querySelectorAll('.tabs a')) {
      const here = new URL(link.href, location.href).searchParams.get("tab") === status;
      if (here) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
  }

  function applyState(conversation, aiBar) {
    if (!session) return;
    const before = JSON.parse(session.dataset.conversation);
    if (before.status !== conversation.status) followTab(conversation.status);
    const human = conversation.controller === "human";
    const open = conversation.status === "open";
    const humanMode = human && open;
    const show = (id, visible) => { const el = document.getElementById(id); if (el) el.hidden = !visible; };
    show("hand-over", !humanMode);
    show("give-back", human);
    show("resolve", open);
    show("banner", humanMode);
    show("send-bar", humanMode);
    show("ai-bar", !humanMode);
    const bar = document.getElementById("ai-bar");
    if (bar && aiBar) bar.textContent = aiBar;
    const line = document.getElementById("state-line");
    if (line) line.textContent = stateLine(conversation);
    session.dataset.conversation = JSON.stringify(conversation);
  }

  function nearBottom() {
    return !pane || pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
  }

  function toBottom() {
    if (pane) pane.scrollTop = pane.scrollHeight;
  }

  function lastTime() {
    const items = document.querySelectorAll("#transcript > [data-at]");
    if (items.length) return items[items.length - 1].dataset.at;
    return JSON.parse(session.dataset.conversation).created_at;
  }

  // New transcript lines and the header's "why" line since the last one shown.
  let pulling = null;
  let pullAgain = false;
  async function pull() {
    if (pulling) { pullAgain = true; return pulling; }
    pulling = (async () => {
      do {
        pullAgain = false;
        const current = JSON.parse(session.dataset.conversation);
        const url = "/console/conversations/" + encodeURIComponent(current.id) + "/timeline?since=" + encodeURIComponent(lastTime());
        const response = await fetch(url, { headers: { Accept: "application/json" } });
        if (!response.ok) break;
        const data = await response.json();
        const stick = nearBottom();
        const list = document.getElementById("transcript");
        const holder = document.createElement("template");
        holder.innerHTML = data.items_html;
        for (const item of Array.from(holder.content.children)) {
          if (list.querySelector('[data-id="' + item.dataset.id + '"]')) continue;
          showTimes(item);
          list.appendChild(item);
        }
        const why = document.getElementById("why");
        holder.innerHTML = data.why_html;
        const freshWhy = holder.content.querySelector("#why");
        if (why && freshWhy) { showTimes(freshWhy); why.replaceWith(freshWhy); }
        applyState(data.conversation, data.ai_bar);
        if (stick) toBottom();
      } while (pullAgain);
    })().finally(() => { pulling = null; });
    return pulling;
  }

  // The team has seen what the shopper wrote while this conversation is on screen.
  async function markSeen() {
    if (!session || !csrf) return;
    const current = JSON.parse(session.dataset.conversation);
    await fetch("/console/conversations/" + encodeURIComponent(current.id) + "/seen", {
      method: "POST", headers: { "X-CSRF-Token": csrf.value },
    }).catch(() => {});
  }

  // -- the list ----------------------------------------------------------------------
  const search = document.getElementById("search");
  let listTimer = null;
  function refreshList(delay) {
    clearTimeout(listTimer);
    listTimer = setTimeout(async () => {
      const url = new URL(location.href);
      url.searchParams.set("fragment", "list");
      url.searchParams.set("tab", inbox.dataset.tab);
      if (search && search.value.trim()) url.searchParams.set("q", search.value.trim());
      else url.searchParams.delete("q");
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const holder = document.createElement("template");
      holder.innerHTML = await response.text();
      const fresh = holder.content.querySelector("#conversation-list");
      const current = document.getElementById("conversation-list");
      if (fresh && current) { showTimes(fresh); current.replaceWith(fresh); }
    }, delay === undefined ? 100 : delay);
  }

  if (search) {
    search.addEventListener("input", () => {
      const url = new URL(location.href);
      if (search.value.trim()) url.searchParams.set("q", search.value.trim());
      else url.searchParams.delete("q");
      history.replaceState(null, "", url);
      refreshList(250);
    });
  }

  // -- live events -------------------------------------------------------------------
  function connect(delay) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/console/stream");
    socket.onopen = () => {
      delay = 500;
      document.body.dataset.live = "yes";
      // catch up on anything that happened before the socket was open (a page just
      // loaded, or a reconnect): the conversation and the list
      if (session) pull();
      if (inbox) refreshList(0);
    };
    socket.onmessage = async (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "ping") return;
      const mine = session && event.conversation.id === JSON.parse(session.dataset.conversation).id;
      if (mine) {
        await pull();
        if (event.type === "message.created" && event.message.author === "shopper" && document.visibilityState === "visible") {
          await markSeen();
        }
      }
      if (inbox) refreshList();
    };
    socket.onclose = () => {
      document.body.dataset.live = "no";
      setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    };
  }

  document.addEventListener("visibilitychange", () => {
    if (session && document.visibilityState === "visible") markSeen().then(() => refreshList());
  });

  // -- start -------------------------------------------------------------------------
  showTimes();
  setInterval(() => showTimes(), 30000);
  if (session) {
    applyState(JSON.parse(session.dataset.conversation));
    toBottom();  // a conversation opens on its latest messages
    const reply = document.getElementById("reply");
    const bar = document.getElementById("send-bar");
    if (reply && !bar.hidden) reply.focus({ preventScroll: true });
    reply && reply.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (reply.value.trim()) bar.requestSubmit();
      }
    });
  }
  const modal = document.getElementById("upgrade-modal");
  for (const button of document.querySelectorAll("[data-upgrade]")) {
    button.addEventListener("click", () => modal.showModal());
  }
  if (inbox) connect(500);
})();
