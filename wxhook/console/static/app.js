// wxhook console: plain JavaScript, no build step. Every call goes to /console/api on the ops
// listener; the server builds, signs and encrypts the pushes, so no key is ever in this page.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { info: null, types: [], lastSend: null, entries: new Map(), selected: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, body) {
  const options = { credentials: "same-origin" };
  if (body !== undefined) {
    options.method = "POST";
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  const response = await fetch("/console/api/" + path, options);
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) return { error: response.status + " " + (await response.text()) };
  return response.json();
}

const pretty = (value) => JSON.stringify(value, null, 2);
const clock = (t) => new Date(t * 1000).toLocaleTimeString();
const typeName = (e) => (e.event ? e.type + "/" + e.event : e.type) || "-";

function replySummary(reply) {
  if (!reply || !Object.keys(reply).length) return "";
  if (reply.Content !== undefined) return reply.Content;
  return reply.MsgType || pretty(reply);
}

// Send --------------------------------------------------------------------------------------

function account() {
  return state.info.accounts.find((a) => a.name === $("#account").value);
}

function fillModes() {
  const a = account();
  $("#mode").replaceChildren(
    ...a.modes.map((m) => el("option", { value: m }, m === a.mode ? m + " (configured 已配置)" : m))
  );
}

function fillTypes() {
  const query = $("#type-search").value.trim().toLowerCase();
  const chosen = $("#type").value;
  const shown = state.types.filter((t) =>
    [t.name, t.class, t.msg_type, t.event].some((s) => s && s.toLowerCase().includes(query))
  );
  $("#type").replaceChildren(
    ...shown.map((t) => el("option", { value: t.name }, t.name + "  ·  " + t.class))
  );
  if (shown.some((t) => t.name === chosen)) $("#type").value = chosen;
  else if (shown.length) $("#type").value = shown[0].name;
  fillFields();
}

function fillFields() {
  const t = state.types.find((x) => x.name === $("#type").value);
  if (!t) {
    $("#fields").replaceChildren(el("span", { class: "muted" }, "no type matches 无匹配类型"));
    $("#type-info").textContent = "";
    return;
  }
  $("#type-info").textContent =
    "MsgType " + t.msg_type + (t.event ? ", Event " + t.event : "") + " → " + t.class;
  const rows = Object.entries(t.fields).map(([name, value]) =>
    el("label", {}, name, el("input", { "data-name": name, value: value }))
  );
  $("#fields").replaceChildren(...(rows.length ? rows : [el("span", { class: "muted" }, "no fields of its own 无字段")]));
}

function fieldValues() {
  const out = {};
  for (const input of document.querySelectorAll("#fields input")) out[input.dataset.name] = input.value;
  return out;
}

function kvTable(obj) {
  return el("table", { class: "kv" }, el("tbody", {},
    ...Object.entries(obj).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))));
}

function handlersOf(entry) {
  const runs = entry.handlers || [];
  if (!runs.length) {
    return el("span", { class: "muted" }, entry.outcome === "duplicate" ? "none (answered from the first) 未重复运行" : "none 无");
  }
  return el("span", { class: "handlers" }, ...runs.map((h) =>
    el("span", { class: h.failed ? "failed-run" : "" }, h.name + " " + h.ms + " ms" + (h.failed ? " ✗" : ""))));
}

function showResult(out, what) {
  const box = $("#result");
  if (out.error && !out.request) {
    box.replaceChildren(el("div", { class: "head bad" }, out.error));
    return;
  }
  const head = out.error
    ? el("div", { class: "head bad", id: "result-status" }, what + ": " + out.error)
    : el("div", { class: "head", id: "result-status" },
        what + ": " + out.status + " " + out.reason + " in " + out.ms + " ms" +
        (out.body === "" ? " — empty body 空回复" : ""));
  const parts = [head];
  if (out.live) {
    parts.push(el("div", { id: "result-live" }, "server 服务器: ",
      el("span", { class: "badge o-" + out.live.outcome, id: "result-outcome" }, out.live.outcome),
      " handlers 处理器: ", handlersOf(out.live)));
  }
  if (out.reply && Object.keys(out.reply).length) {
    parts.push(el("h3", {}, "Reply, decrypted and parsed · 回复（已解密）"),
      el("pre", { id: "result-reply" }, pretty(out.reply)));
  } else if (out.verified) {
    parts.push(el("div", { id: "result-reply" }, "echostr sent back 已返回 echostr: " + out.body));
  }
  parts.push(el("h3", {}, "Request · 请求 " + out.request.method + " " + out.request.url),
    kvTable(out.request.query));
  if (out.request.body !== undefined) {
    parts.push(el("h3", {}, "Body on the wire · 请求体"), el("pre", {}, out.request.body));
    if (out.request.body !== out.request.document) {
      parts.push(el("h3", {}, "Plaintext push · 明文"), el("pre", {}, out.request.document));
    }
  }
  box.replaceChildren(...parts);
}

async function send() {
  $("#send").disabled = true;
  try {
    const out = await api("send", {
      account: $("#account").value, type: $("#type").value, mode: $("#mode").value, fields: fieldValues(),
    });
    if (out.id) { state.lastSend = out.id; $("#retry").disabled = false; }
    showResult(out, "Sent 已发送");
  } finally {
    $("#send").disabled = false;
  }
}

async function retry() {
  if (!state.lastSend) return;
  showResult(await api("retry", { id: state.lastSend }), "Retried, same query and body 重试");
}

async function verify() {
  showResult(await api("verify", { account: $("#account").value }), "URL verification 验证");
}

// Live --------------------------------------------------------------------------------------

function liveRow(e) {
  return el("tr", {
    "data-id": e.id, "data-outcome": e.outcome,
    class: state.selected === e.id ? "live-row selected" : "live-row",
    onclick: () => select(e.id),
  },
  el("td", {}, clock(e.time)),
  el("td", {}, e.account),
  el("td", {}, typeName(e)),
  el("td", {}, el("span", { class: "badge o-" + e.outcome }, e.outcome + (e.reason ? ": " + e.reason : ""))),
  el("td", {}, handlersOf(e)),
  el("td", {}, e.outcome === "rejected" ? e.error : replySummary(e.reply)));
}

function renderLive() {
  const all = [...state.entries.values()].sort((a, b) => b.id - a.id);
  const keep = state.info ? state.info.history : 200;
  for (const e of all.slice(keep)) state.entries.delete(e.id);
  $("#live tbody").replaceChildren(...all.slice(0, keep).map(liveRow));
  $("#live-count").textContent = "(" + Math.min(all.length, keep) + ", newest first 最新在前)";
}

async function select(id) {
  state.selected = id;
  renderLive();
  const entry = await api("live/" + id); // again: handlers still running then have ended since
  $("#detail").replaceChildren(el("pre", { id: "detail-json" }, pretty(entry)));
}

function follow() {
  const source = new EventSource("/console/api/events");
  source.onopen = () => { $("#stream").textContent = "live 实时"; $("#stream").className = "badge o-replied"; };
  source.onerror = () => { $("#stream").textContent = "reconnecting 重连中"; $("#stream").className = "badge o-duplicate"; };
  source.onmessage = (message) => {
    const entry = JSON.parse(message.data);
    const fresh = !state.entries.has(entry.id); // a reconnection sends the ring again
    state.entries.set(entry.id, entry);
    renderLive();
    if (fresh && (entry.handlers || []).some((h) => h.failed)) setTimeout(() => loadFailures(), 300);
  };
}

// Failures ----------------------------------------------------------------------------------

async function loadFailures() {
  const out = await api("failures");
  $("#failures-note").textContent = out.error || (out.records.length ? "" : "no failure records 暂无失败记录");
  $("#failures tbody").replaceChildren(...(out.records || []).map((r) =>
    el("tr", { class: "failure-row", "data-id": r.id },
      el("td", {}, clock(r.time)),
      el("td", {}, r.id),
      el("td", {}, r.account),
      el("td", {}, r.handler),
      el("td", {}, r.event ? r.msg_type + "/" + r.event : r.msg_type),
      el("td", {}, r.error),
      el("td", {}, el("button", { class: "replay", onclick: () => replay(r.id) }, "Replay 重放")))));
}

async function replay(id) {
  const out = await api("failures/" + encodeURIComponent(id) + "/replay", {});
  $("#replay-result").replaceChildren(
    el("span", { id: "replay-line", class: out.result === "ok" ? "" : "bad" }, out.line || out.error));
  await loadFailures();
}

// Start -------------------------------------------------------------------------------------

async function start() {
  state.info = await api("info");
  if (state.info.error) { document.body.textContent = state.info.error; return; }
  state.types = state.info.types;
  $("#where").textContent = state.info.show_contents
    ? "loopback: message contents shown 本机：显示消息内容"
    : "not loopback: message contents masked 非本机：内容已隐藏";
  $("#account").replaceChildren(...state.info.accounts.map((a) =>
    el("option", { value: a.name }, a.name + " (" + a.path + ")")));
  fillModes();
  fillTypes();
  $("#account").addEventListener("change", fillModes);
  $("#type-search").addEventListener("input", fillTypes);
  $("#type").addEventListener("change", fillFields);
  $("#send").addEventListener("click", send);
  $("#retry").addEventListener("click", retry);
  $("#verify").addEventListener("click", verify);
  $("#failures-refresh").addEventListener("click", () => loadFailures());
  follow();
  loadFailures();
}

start();
