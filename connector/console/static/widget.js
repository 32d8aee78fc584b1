// The demo shopper widget: a stand-in for the chat platform's widget.
(function () {
  "use strict";
  const root = document.querySelector(".widget");
  const base = "/demo/" + root.dataset.token;
  const chat = document.getElementById("chat");
  const who = document.getElementById("who");
  const input = document.getElementById("say");
  const storageKey = "demo-conversation:" + root.dataset.token;
  const seen = new Set();

  function show(message) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    const item = document.createElement("li");
    item.className = "bubble " + message.author;
    item.dataset.author = message.author;
    if (message.author !== "shopper") {
      const from = document.createElement("span");
      from.className = "from";
      from.textContent = message.author === "human"
        ? (message.author_name || "Support") + " (human)"
        : "AI assistant";
      item.appendChild(from);
    }
    item.appendChild(document.createTextNode(message.text));
    chat.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function showState(conversation) {
    const human = conversation.controller === "human" && conversation.status === "open";
    who.textContent = human
      ? "You are now talking to a human."
      : "You are chatting with the shop's AI assistant.";
    who.classList.toggle("human", human);
  }

  async function post(path, body) {
    const response = await fetch(base + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }

  function listen(streamToken, delay) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/demo/stream?token=" + encodeURIComponent(streamToken));
    socket.onopen = () => { root.dataset.live = "yes"; };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "ping") return;
      if (event.message) show(event.message);
      showState(event.conversation);
    };
    socket.onclose = () => {
      root.dataset.live = "no";
      setTimeout(() => listen(streamToken, Math.min(delay * 2, 10000)), delay);
    };
  }

  async function start() {
    let saved = JSON.parse(sessionStorage.getItem(storageKey) || "null");
    if (saved) {
      const response = await fetch(base + "/conversations/" + saved.id + "/messages");
      if (response.ok) {
        const body = await response.json();
        body.data.forEach(show);
        showState(body.conversation);
      } else {
        saved = null;
      }
    }
    if (!saved) {
      const started = await post("/conversations", { name: "Demo shopper" });
      saved = { id: started.conversation.id, streamToken: started.stream_token };
      sessionStorage.setItem(storageKey, JSON.stringify(saved));
      showState(started.conversation);
    }
    root.dataset.conversation = saved.id;
    listen(saved.streamToken, 500);
    document.getElementById("compose").addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      const answer = await post("/conversations/" + saved.id + "/messages", { text });
      show(answer.message);
    });
  }
  start();
})();
