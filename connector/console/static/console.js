// The console's live behaviour: state of the session header, live transcript and list,
// Enter to send, and the upgrade modal. Everything also works as plain forms.
(function () {
  "use strict";
  const inbox = document.querySelector(".inbox");
  const session = document.querySelector(".session[data-conversation]");
  const KINDS = { shopper: "Shopper", ai: "AI", human: "Human", system: "System" };

  function applyState(conversation) {
    if (!session) return;
    const human = conversation.controller === "human";
    const open = conversation.status === "open";
    const humanMode = human && open;
    const show = (id, visible) => { const el = document.getElementById(id); if (el) el.hidden = !visible; };
    show("hand-over", !humanMode);
    show("give-back", human);
    show("resolve", open);
    show("banner", humanMode);
    show("send-bar", humanMode);
    const line = document.getElementById("state-line");
    if (line) {
      line.textContent = (open ? "Open" : "Resolved") + " · " + (human ? "a human is in charge" : "the AI is in charge");
    }
    session.dataset.conversation = JSON.stringify(conversation);
  }

  function appendMessage(message) {
    const list = document.getElementById("transcript");
    if (!list || list.querySelector('[data-id="' + message.id + '"]')) return;
    const item = document.createElement("li");
    item.className = "message " + message.author;
    item.dataset.id = message.id;
    const author = document.createElement("span");
    author.className = "author";
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = KINDS[message.author] || message.author;
    author.appendChild(kind);
    if (message.author_name) author.appendChild(document.createTextNode(" · " + message.author_name));
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = message.text;
    item.append(author, text);
    for (const attachment of message.attachments || []) {
      const link = document.createElement("a");
      link.className = "attachment";
      link.href = attachment.url;
      link.rel = "noopener noreferrer";
      link.textContent = attachment.name;
      item.appendChild(link);
    }
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  let listTimer = null;
  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(async () => {
      const url = new URL(location.href);
      url.searchParams.set("fragment", "list");
      url.searchParams.set("tab", inbox.dataset.tab);
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      const fresh = holder.querySelector("#conversation-list");
      const current = document.getElementById("conversation-list");
      if (fresh && current) current.replaceWith(fresh);
    }, 100);
  }

  function connect(delay) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/console/stream");
    socket.onopen = () => { delay = 500; document.body.dataset.live = "yes"; };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "ping") return;
      if (inbox) refreshList();
      if (!session) return;
      const current = JSON.parse(session.dataset.conversation);
      if (event.conversation.id !== current.id) return;
      if (event.type === "message.created") appendMessage(event.message);
      applyState(event.conversation);
    };
    socket.onclose = () => {
      document.body.dataset.live = "no";
      setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    };
  }

  if (session) {
    applyState(JSON.parse(session.dataset.conversation));
    const reply = document.getElementById("reply");
    const bar = document.getElementById("send-bar");
    if (reply && !bar.hidden) reply.focus();
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
