// agentgate chat page. Model text is only ever put into the page as text
// nodes (textContent, createTextNode), never through the HTML parser, so an answer
// cannot inject markup or script.
"use strict";

const $ = (id) => document.getElementById(id);
const els = {
  log: $("log"), empty: $("empty"), emptyAgent: $("empty-agent"),
  agents: $("agents"), agent: $("agent"), agentName: $("agent-name"), newChat: $("new"), logout: $("logout"),
  login: $("login"), loginError: $("login-error"), loginPassword: $("login-password"),
  user: $("login-user"), pass: $("login-pass"), key: $("login-key"),
  composer: $("composer"), prompt: $("prompt"), send: $("send"), stop: $("stop"), status: $("status"),
};

const state = {
  token: "",       // login token, kept in memory only (the HttpOnly cookie may not survive plain http)
  apiKey: "",      // API key typed into the sign-in form, in memory only
  session: "",     // runtime session id of the current conversation
  controller: null, // AbortController of the answer streaming now
};

function authHeaders() {
  const h = {};
  if (state.token) h["Authorization"] = "Bearer " + state.token;
  else if (state.apiKey) h["X-Api-Key"] = state.apiKey;
  return h;
}

// apiError reads the gateway's {"error":{code,message,requestId}} answer.
async function apiError(resp) {
  let e = {};
  try { e = (await resp.json()).error || {}; } catch (_) { /* not JSON */ }
  const err = new Error(e.message || resp.status + " " + resp.statusText);
  err.status = resp.status;
  err.code = e.code || "";
  err.requestId = e.requestId || resp.headers.get("X-Request-Id") || "";
  err.retryAfter = parseInt(resp.headers.get("Retry-After") || "", 10);
  return err;
}

// loginOffered asks whether the gateway has ID/password sign-in: an empty
// sign-in is refused as bad input (400) where it has, 404 where not. (The
// gateway sends scripts no Basic challenge, which browsers would answer
// with their own dialog.)
let loginOfferedCache = null;
async function loginOffered() {
  if (loginOfferedCache === null) {
    try {
      const resp = await fetch("auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      loginOfferedCache = resp.status !== 404;
    } catch (_) {
      return true;
    }
  }
  return loginOfferedCache;
}

function describe(err) {
  let text = err.message;
  if (err.status === 429 && err.retryAfter > 0) text += " — retry in " + humanSeconds(err.retryAfter);
  if (err.code) text += " (" + err.code + (err.requestId ? ", request " + err.requestId : "") + ")";
  return text;
}

function humanSeconds(s) {
  if (s < 120) return s + " s";
  if (s < 7200) return Math.ceil(s / 60) + " min";
  return Math.ceil(s / 3600) + " h";
}

function setStatus(text) { els.status.textContent = text; }

// ---- sign-in and agents ----

async function showLogin(err) {
  document.body.classList.add("signed-out");
  updateEmpty();
  els.login.hidden = false;
  els.composer.hidden = true;
  els.logout.hidden = true;
  // The password fields only make sense when the gateway offers sign-in.
  els.loginPassword.hidden = !(await loginOffered());
  if (err && (err.code !== "unauthenticated" || state.token || state.apiKey)) {
    els.loginError.textContent = describe(err);
    els.loginError.hidden = false;
  } else {
    els.loginError.hidden = true;
  }
  (els.loginPassword.hidden ? els.key : els.user).focus();
}

function hideLogin() {
  document.body.classList.remove("signed-out");
  els.login.hidden = true;
  els.composer.hidden = false;
  els.loginError.hidden = true;
  updateEmpty();
}

// updateEmpty says what to do on a page with no conversation yet, once
// signed in to an agent.
function updateEmpty() {
  els.emptyAgent.textContent = els.agent.value || "the agent";
  els.empty.hidden = document.body.classList.contains("signed-out") || !els.agent.value ||
    els.log.querySelector(".msg") !== null;
}

async function loadAgents() {
  let resp;
  try {
    resp = await fetch("agents", { headers: authHeaders(), credentials: "same-origin" });
  } catch (e) {
    setStatus("The gateway cannot be reached: " + e.message);
    return;
  }
  if (!resp.ok) {
    const err = await apiError(resp);
    if (resp.status === 401) { showLogin(err); return; }
    setStatus(describe(err));
    return;
  }
  const { agents } = await resp.json();
  const previous = els.agent.value;
  els.agent.replaceChildren();
  for (const a of agents) {
    const opt = document.createElement("option");
    opt.value = a.name;
    opt.textContent = a.name;
    if (a.name === previous || (!previous && a.default)) opt.selected = true;
    els.agent.append(opt);
  }
  // One agent is a name to read, not a choice to make.
  const one = agents.length === 1;
  els.agents.hidden = agents.length === 0;
  els.agent.hidden = one;
  els.agentName.hidden = !one;
  els.agentName.textContent = one ? agents[0].name : "";
  els.send.disabled = agents.length === 0;
  els.logout.hidden = !(state.token || state.apiKey);
  hideLogin();
  setStatus(agents.length ? "" : "No agent is available to you.");
  els.prompt.focus();
}

els.login.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const key = els.key.value.trim();
  if (key) {
    state.apiKey = key;
    state.token = "";
    els.key.value = "";
    await loadAgents();
    return;
  }
  const username = els.user.value.trim(), password = els.pass.value;
  if (!username || !password) return;
  const resp = await fetch("auth/login", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  els.pass.value = "";
  if (!resp.ok) {
    showLogin(await apiError(resp));
    return;
  }
  state.token = (await resp.json()).token;
  state.apiKey = "";
  await loadAgents();
});

els.logout.addEventListener("click", async () => {
  stopAnswer();
  if (state.token) await fetch("auth/logout", { method: "POST", credentials: "same-origin" }).catch(() => {});
  state.token = state.apiKey = "";
  newChat();
  await loadAgents();
});

// ---- conversation ----

function newChat() {
  stopAnswer();
  state.session = "";
  for (const m of els.log.querySelectorAll(".msg")) m.remove();
  updateEmpty();
  setStatus("");
  els.prompt.focus();
}

// stopAnswer stops the answer streaming now. The gateway keeps a turn
// running when its connection drops, so that it can be resumed: closing
// the connection is not enough, the turn is stopped by name.
function stopAnswer() {
  const c = state.controller;
  if (!c) return;
  c.abort();
  if (c.agent && c.session) {
    fetch(sessionPath(c.agent, c.session) + "/stop", {
      method: "POST", credentials: "same-origin", headers: authHeaders(),
    }).catch(() => {});
  }
}

function sessionPath(agent, session) {
  return "agents/" + encodeURIComponent(agent) + "/sessions/" + encodeURIComponent(session);
}

// How often, and how long apart, a dropped answer is asked for again.
const RESUME_TRIES = 8;
function resumeDelay(tries) { return Math.min(250 * 2 ** (tries - 1), 4000); }

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("stopped", "AbortError")); }, { once: true });
  });
}

function addMessage(role) {
  const msg = document.createElement("article");
  msg.className = "msg " + role;
  const body = document.createElement("div");
  body.className = "body";
  msg.append(body);
  els.log.append(msg);
  els.empty.hidden = true;
  return msg;
}

function setMeta(msg, text, isError) {
  const meta = document.createElement("div");
  meta.className = "meta" + (isError ? " error" : "");
  meta.textContent = text;
  msg.append(meta);
}

function scrollDown() { els.log.scrollTop = els.log.scrollHeight; }

function busy(on) {
  els.send.hidden = on;
  els.stop.hidden = !on;
  els.agent.disabled = on;
}

function summary(usage, firstMs, totalMs) {
  const parts = [];
  if (firstMs !== null) parts.push("first text " + Math.round(firstMs) + " ms");
  parts.push((totalMs / 1000).toFixed(2) + " s total");
  if (usage) {
    parts.push(usage.inputTokens + " in / " + usage.outputTokens + " out tokens");
  } else {
    parts.push("no usage reported");
  }
  return parts.join(" · ");
}

async function send(prompt) {
  const agent = els.agent.value;
  const user = addMessage("user");
  user.querySelector(".body").textContent = prompt;
  const msg = addMessage("assistant");
  msg.dataset.state = "streaming";
  const body = msg.querySelector(".body");
  scrollDown();

  const controller = new AbortController();
  controller.agent = agent;
  state.controller = controller;
  busy(true);
  const started = performance.now();
  let firstMs = null, text = "", usage = null, ended = false, failed = false;
  const payload = { prompt, response: "ndjson" };
  if (state.session) payload.runtimeSessionId = state.session;
  // Each line as it arrives; a dropped connection resumes at the byte
  // after the last one read, so the parser carries on as if it never
  // dropped.
  const decoder = new TextDecoder();
  let buf = "", received = 0, reconnecting = false;
  const onLine = (line) => {
    let ev;
    try { ev = JSON.parse(line); } catch (_) { return; }
    switch (ev.type) {
      case "text":
        if (firstMs === null) firstMs = performance.now() - started;
        text += ev.text;
        renderMarkdown(body, text);
        scrollDown();
        break;
      case "usage": usage = ev.usage; break;
      case "session": if (ev.id) state.session = ev.id; ended = true; break;
      case "error": {
        const e = ev.error || {};
        msg.dataset.state = "error";
        setMeta(msg, (e.message || "the answer failed") + (e.code ? " (" + e.code + (e.requestId ? ", request " + e.requestId : "") + ")" : ""), true);
        ended = failed = true;
        break;
      }
    }
  };
  try {
    let resp = await fetch("agents/" + encodeURIComponent(agent) + "/invocations", {
      method: "POST", credentials: "same-origin", signal: controller.signal,
      headers: Object.assign({ "Content-Type": "application/json", "Accept": "application/x-ndjson" }, authHeaders()),
      body: JSON.stringify(payload),
    });
    if (!resp.ok) {
      const err = await apiError(resp);
      msg.dataset.state = "error";
      setMeta(msg, describe(err), true);
      if (err.status === 401) showLogin(err);
      return;
    }
    const sid = resp.headers.get("X-Agentgate-Session-Id");
    if (sid) state.session = controller.session = sid;
    for (let tries = 0; ;) {
      try {
        const reader = resp.body.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          received += value.byteLength;
          tries = 0;
          buf += decoder.decode(value, { stream: true });
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) onLine(line);
          }
        }
        if (ended) break;
        throw new Error("the answer ended early");
      } catch (e) {
        if (e.name === "AbortError" || !controller.session || ++tries > RESUME_TRIES) throw e;
      }
      // The connection dropped mid-answer: ask for the rest.
      msg.dataset.state = "reconnecting";
      reconnecting = true;
      setStatus("Reconnecting…");
      await sleep(resumeDelay(tries), controller.signal);
      try {
        resp = await fetch(sessionPath(agent, controller.session) + "/stream?after=" + received, {
          credentials: "same-origin", signal: controller.signal, headers: authHeaders(),
        });
      } catch (e) {
        if (e.name === "AbortError") throw e;
        resp = null;
      }
      if (resp && resp.status === 204) throw new Error("the rest of the answer is no longer kept");
      if (resp && !resp.ok && resp.status < 500) throw new Error(describe(await apiError(resp)));
      if (!resp || !resp.ok) { resp = { body: { getReader() { throw new Error("the gateway cannot be reached"); } } }; }
      else { msg.dataset.state = "streaming"; setStatus(""); }
    }
    if (!failed) {
      msg.dataset.state = "done";
      setMeta(msg, summary(usage, firstMs, performance.now() - started));
    }
  } catch (e) {
    if (e.name === "AbortError") {
      msg.dataset.state = "stopped";
      setMeta(msg, "Stopped after " + ((performance.now() - started) / 1000).toFixed(2) + " s.");
    } else {
      msg.dataset.state = "error";
      setMeta(msg, "The connection failed: " + e.message, true);
    }
  } finally {
    if (reconnecting) setStatus("");
    if (state.controller === controller) state.controller = null;
    busy(false);
    scrollDown();
  }
}

els.composer.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const prompt = els.prompt.value.trim();
  if (!prompt || state.controller || els.send.disabled) return;
  els.prompt.value = "";
  send(prompt);
});
els.prompt.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    els.composer.requestSubmit();
  }
});
els.stop.addEventListener("click", stopAnswer);
els.newChat.addEventListener("click", newChat);
els.agent.addEventListener("change", newChat);

// ---- Markdown, as DOM nodes only ----
// A small subset: paragraphs, fenced code, headings, lists, block quotes,
// inline code, bold, italic, and links to http(s) URLs only.

function renderMarkdown(target, src) {
  const out = document.createDocumentFragment();
  const lines = src.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+-]*)\s*$/);
    if (fence) {
      const code = [];
      i++;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) code.push(lines[i++]);
      i++; // the closing fence, if it has arrived
      const pre = document.createElement("pre");
      const c = document.createElement("code");
      if (fence[1]) c.dataset.lang = fence[1];
      c.textContent = code.join("\n");
      pre.append(c);
      out.append(pre);
      continue;
    }
    if (/^\s*$/.test(line)) { i++; continue; }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const h = document.createElement("h" + Math.min(6, heading[1].length + 2));
      inline(h, heading[2]);
      out.append(h);
      i++;
      continue;
    }
    const item = /^\s*(?:[-*+]|(\d+)[.)])\s+/;
    if (item.test(line)) {
      const ordered = !!line.match(item)[1];
      const list = document.createElement(ordered ? "ol" : "ul");
      while (i < lines.length && item.test(lines[i]) && !!lines[i].match(item)[1] === ordered) {
        const li = document.createElement("li");
        inline(li, lines[i].replace(item, ""));
        list.append(li);
        i++;
      }
      out.append(list);
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quote = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quote.push(lines[i++].replace(/^\s*>\s?/, ""));
      const bq = document.createElement("blockquote");
      inline(bq, quote.join("\n"));
      out.append(bq);
      continue;
    }
    const para = [];
    while (i < lines.length && !/^\s*$/.test(lines[i]) && !/^\s*```/.test(lines[i]) && !/^#{1,6}\s/.test(lines[i]) && !item.test(lines[i])) {
      para.push(lines[i++]);
    }
    const p = document.createElement("p");
    inline(p, para.join("\n"));
    out.append(p);
  }
  target.replaceChildren(out);
}

const inlineToken = /`([^`\n]+)`|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s](?:[^*]*[^*\s])?)\*|\b_([^_\s](?:[^_]*[^_\s])?)_\b|\[([^\]\n]+)\]\(([^)\s]+)\)/;

function inline(parent, text) {
  while (text) {
    const m = text.match(inlineToken);
    if (!m) { appendText(parent, text); return; }
    appendText(parent, text.slice(0, m.index));
    if (m[1] !== undefined) {
      const c = document.createElement("code");
      c.textContent = m[1];
      parent.append(c);
    } else if (m[2] !== undefined || m[3] !== undefined) {
      const b = document.createElement("strong");
      inline(b, m[2] !== undefined ? m[2] : m[3]);
      parent.append(b);
    } else if (m[4] !== undefined || m[5] !== undefined) {
      const em = document.createElement("em");
      inline(em, m[4] !== undefined ? m[4] : m[5]);
      parent.append(em);
    } else {
      const href = safeURL(m[7]);
      if (href) {
        const a = document.createElement("a");
        a.href = href;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        a.textContent = m[6];
        parent.append(a);
      } else {
        appendText(parent, m[0]);
      }
    }
    text = text.slice(m.index + m[0].length);
  }
}

// safeURL returns url when it is an absolute http(s) URL, else "".
function safeURL(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : "";
  } catch (_) {
    return "";
  }
}

// appendText keeps single line breaks inside a paragraph.
function appendText(parent, text) {
  const parts = text.split("\n");
  parts.forEach((part, i) => {
    if (i > 0) parent.append(document.createElement("br"));
    if (part) parent.append(document.createTextNode(part));
  });
}

loadAgents();
