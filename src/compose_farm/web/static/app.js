// Compose Farm UI behaviour: task output over WebSockets, logs, terminals,
// editors and the command palette. No framework; HTMX does the requests.
(function () {
  "use strict";

  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const wsUrl = (path) => (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  const $ = (sel) => document.querySelector(sel);
  const refresh = () => document.body.dispatchEvent(new Event("cf:refresh"));

  // ---------------------------------------------------------------- output drawer
  let outputSocket = null;

  function openDrawer(title) {
    const drawer = $("#output");
    if (!drawer) return;
    drawer.hidden = false;
    $("#output-title").textContent = title;
    $("#output-status").textContent = "running";
    $("#output-status").className = "badge warn";
    $("#output-lines").textContent = "";
  }

  function appendLine(item) {
    const pre = $("#output-lines");
    const span = document.createElement("span");
    span.className = "line-" + (item.stream || "stdout");
    const label = item.stack ? (item.host && item.host !== "-" ? item.stack + "@" + item.host : item.stack) : item.host;
    span.textContent = (label ? "[" + label + "] " : "") + item.text + "\n";
    pre.appendChild(span);
    pre.scrollTop = pre.scrollHeight;
  }

  function finish(ok, summary) {
    const status = $("#output-status");
    status.textContent = ok ? "done" : "failed";
    status.className = "badge " + (ok ? "ok" : "bad");
    if (summary) appendLine({ stream: ok ? "info" : "error", text: summary });
  }

  function followTask(id, title) {
    if (outputSocket) outputSocket.close();
    openDrawer(title || "Task");
    sessionStorage.setItem("cf-task", JSON.stringify({ id: id, title: title }));
    const ws = new WebSocket(wsUrl("/ws/tasks/" + encodeURIComponent(id)));
    outputSocket = ws;
    ws.onmessage = (msg) => {
      const item = JSON.parse(msg.data);
      if (item.type === "done") {
        finish(item.ok, item.summary);
        sessionStorage.removeItem("cf-task");
        refresh();
      } else {
        appendLine(item);
      }
    };
  }

  // A container is named by its id (its name may hold a masked .env value); ``name`` is
  // only what the title shows.
  function followLogs(stack, host, container, name) {
    if (outputSocket) outputSocket.close();
    openDrawer("Logs: " + stack + (container ? " / " + (name || container.slice(0, 12)) + "@" + host : ""));
    $("#output-status").textContent = "following";
    let query = "?tail=200";
    if (host) query += "&host=" + encodeURIComponent(host);
    if (container) query += "&container=" + encodeURIComponent(container);
    const ws = new WebSocket(wsUrl("/ws/logs/" + encodeURIComponent(stack) + query));
    outputSocket = ws;
    ws.onmessage = (msg) => appendLine(JSON.parse(msg.data));
    ws.onclose = () => { if (outputSocket === ws) $("#output-status").textContent = "stopped"; };
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.body.addEventListener("cf:task", (e) => followTask(e.detail.id, e.detail.title));
    document.body.addEventListener("htmx:responseError", (e) => {
      openDrawer("Request failed");
      finish(false, e.detail.xhr.status + " " + e.detail.xhr.responseText);
    });
    const close = $("#output-close");
    if (close) close.addEventListener("click", () => {
      if (outputSocket) outputSocket.close();
      $("#output").hidden = true;
    });
    document.addEventListener("click", (e) => {
      const task = e.target.closest("[data-task]");
      if (task) followTask(task.dataset.task, task.dataset.title);
      const logs = e.target.closest("[data-logs]");
      if (logs) followLogs(logs.dataset.logs, logs.dataset.logsHost, logs.dataset.logsContainer, logs.dataset.logsName);
      const shell = e.target.closest("[data-shell-host]");
      if (shell) openShell(shell.dataset.shellHost, shell.dataset.shellStack, shell.dataset.shellContainer, shell.dataset.shellName);
    });
    const saved = sessionStorage.getItem("cf-task");
    if (saved) {
      const t = JSON.parse(saved);
      followTask(t.id, t.title);
    }
    // Apply, Down, Stop and Rollback ask first; Apply's question shows the plan
    document.body.addEventListener("htmx:confirm", (e) => {
      const el = e.detail.elt;
      if (!el.hasAttribute("data-confirm")) return;
      e.preventDefault();
      let question = el.getAttribute("data-confirm");
      if (el.hasAttribute("data-confirm-plan")) {
        const plan = $("#plan");
        question += "\n\n" + (plan ? plan.innerText.trim() : "");
      }
      if (window.confirm(question)) e.detail.issueRequest(true);
    });
    const onlyUpdates = $("#only-updates");
    if (onlyUpdates) {
      // a class on <body>: it survives the stacks panel's HTMX refreshes
      const apply = () => document.body.classList.toggle("only-updates", onlyUpdates.checked);
      onlyUpdates.checked = sessionStorage.getItem("cf-only-updates") === "1";
      apply();
      onlyUpdates.addEventListener("change", () => {
        sessionStorage.setItem("cf-only-updates", onlyUpdates.checked ? "1" : "0");
        apply();
      });
    }
    setupEditor();
    setupConsole();
    setupPalette();
    setupShellFromQuery();
  });

  // ---------------------------------------------------------------- terminals
  function startTerminal(box, query) {
    box.textContent = "";
    const term = new window.Terminal({ cursorBlink: true, fontSize: 13, convertEol: false });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    const ws = new WebSocket(wsUrl("/ws/terminal?" + query + "&cols=" + term.cols + "&rows=" + term.rows));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (msg) => term.write(new Uint8Array(msg.data));
    ws.onclose = () => term.write("\r\n[disconnected]\r\n");
    term.onData((data) => { if (ws.readyState === 1) ws.send(JSON.stringify({ type: "input", data: data })); });
    term.onResize((size) => { if (ws.readyState === 1) ws.send(JSON.stringify({ type: "resize", cols: size.cols, rows: size.rows })); });
    window.addEventListener("resize", () => fit.fit());
    term.focus();
    return { term: term, ws: ws };
  }

  let shellSession = null;
  function openShell(host, stack, container, name) {
    const modal = $("#term-modal");
    if (!modal) return;
    modal.hidden = false;
    $("#term-title").textContent = "Shell: " + (name || container.slice(0, 12)) + " on " + host;
    const q = "host=" + encodeURIComponent(host) + "&stack=" + encodeURIComponent(stack) + "&container=" + encodeURIComponent(container);
    shellSession = startTerminal($("#term-box"), q);
    $("#term-close").onclick = () => { shellSession.ws.close(); shellSession.term.dispose(); modal.hidden = true; };
  }

  function setupConsole() {
    const button = $("#console-connect");
    if (!button) return;
    let session = null;
    const select = $("#console-host");
    button.addEventListener("click", () => {
      if (session) { session.ws.close(); session.term.dispose(); }
      session = startTerminal($("#console-term"), "host=" + encodeURIComponent(select.value));
      window.cfConsole = session;
    });
    // /console?host=NAME (the palette's "Shell on NAME") connects at once.
    const wanted = new URLSearchParams(location.search).get("host");
    if (wanted && [...select.options].some((o) => o.value === wanted)) {
      select.value = wanted;
      button.click();
    }
  }

  // ---------------------------------------------------------------- editors
  function setupEditor() {
    const area = $("#editor");
    if (!area || !window.CodeMirror) return;
    const editor = window.CodeMirror.fromTextArea(area, { lineNumbers: true, mode: "yaml", indentUnit: 2 });
    window.cfEditor = editor;
    const status = $("#editor-status");
    let url = null;
    const load = (file) => {
      url = area.dataset.config ? "/api/config" : "/api/stack/" + encodeURIComponent(area.dataset.stack) + "/file/" + encodeURIComponent(file);
      editor.setOption("mode", file === ".env" ? "properties" : "yaml");
      fetch(url, { headers: { Accept: "application/json" } })
        .then((r) => r.json())
        .then((data) => { editor.setValue(data.text || ""); status.textContent = data.path || ""; });
    };
    document.querySelectorAll("[data-file]").forEach((tab) => tab.addEventListener("click", () => {
      document.querySelectorAll("[data-file]").forEach((t) => t.classList.remove("active"));
      tab.classList.add("active");
      load(tab.dataset.file);
    }));
    load(area.dataset.file || "");
    $("#editor-save").addEventListener("click", () => {
      status.textContent = "saving...";
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ text: editor.getValue() }),
      }).then(async (r) => {
        const data = await r.json();
        status.textContent = r.ok ? "saved" + (data.backup ? " (backup: " + data.backup + ")" : "") : "not saved: " + data.detail;
        status.className = r.ok ? "muted saved" : "error";
        if (r.ok) refresh();
      });
    });
  }

  // ---------------------------------------------------------------- command palette
  function paletteItems() {
    const items = [];
    const go = (path) => () => { location.href = path; };
    const post = (path) => () => htmx.ajax("POST", path, { swap: "none" });
    items.push({ label: "Go to dashboard", run: go("/") });
    items.push({ label: "Go to console", run: go("/console") });
    document.querySelectorAll("[data-palette]").forEach((el) => items.push({ label: el.dataset.palette, run: () => el.click() }));
    const data = $("#palette-data");
    if (data) {
      const farm = JSON.parse(data.textContent);
      [["Apply", "/api/apply"], ["Refresh", "/api/refresh"], ["Pull all", "/api/pull-all"], ["Update all", "/api/update-all"]]
        .forEach(([label, path]) => items.push({ label: label, run: post(path) }));
      farm.hosts.forEach((h) => items.push({ label: "Shell on " + h, run: go("/console?host=" + encodeURIComponent(h)) }));
      farm.stacks.forEach((s) => {
        const base = "/api/stack/" + encodeURIComponent(s) + "/";
        items.push({ label: "Open stack " + s, run: go("/stack/" + encodeURIComponent(s)) });
        ["Up", "Down", "Stop", "Restart", "Pull", "Update"].forEach((a) =>
          items.push({ label: a + " " + s, run: post(base + a.toLowerCase()) }));
        items.push({ label: "Logs of " + s, run: () => followLogs(s) });
      });
    }
    const logout = $("form[action='/logout']");
    if (logout) items.push({ label: "Log out", run: () => logout.submit() });
    return unique(items);
  }

  function unique(items) {
    const seen = new Set();
    return items.filter((i) => (seen.has(i.label) ? false : seen.add(i.label)));
  }

  // Logs, Restart and Shell of each container (from /api/containers), labelled
  // "stack/service on host"; replicas of one service on one host also get a short id.
  // Actions name the container by id, never by name.
  function containerItems(list) {
    const key = (c) => c.stack + "/" + c.service + " on " + c.host;
    const count = {};
    list.forEach((c) => { count[key(c)] = (count[key(c)] || 0) + 1; });
    const items = [];
    list.forEach((c) => {
      const what = key(c) + (count[key(c)] > 1 ? " (" + c.id.slice(0, 12) + ")" : "");
      const restart = "/api/stack/" + encodeURIComponent(c.stack) + "/container/" +
        encodeURIComponent(c.host) + "/" + encodeURIComponent(c.id) + "/restart";
      items.push({ label: "Logs of " + what, run: () => followLogs(c.stack, c.host, c.id, c.name) });
      items.push({ label: "Restart " + what, run: () => htmx.ajax("POST", restart, { swap: "none" }) });
      items.push({ label: "Shell in " + what, run: () => shellIn(c) });
    });
    return items;
  }

  // The shell opens in the stack page's terminal; from another page, that page opens it.
  function shellIn(c) {
    if ($("#term-modal")) { openShell(c.host, c.stack, c.id, c.name); return; }
    location.href = "/stack/" + encodeURIComponent(c.stack) + "?shell=" + encodeURIComponent(c.id) +
      "&host=" + encodeURIComponent(c.host);
  }

  // /stack/NAME?shell=ID&host=HOST (the palette's "Shell in ..." from another page): the
  // shell button of that container on this page, if it has one.
  function setupShellFromQuery() {
    const params = new URLSearchParams(location.search);
    const id = params.get("shell");
    if (!id || !$("#term-modal")) return;
    const button = [...document.querySelectorAll("[data-shell-container]")].find(
      (b) => b.dataset.shellContainer === id && b.dataset.shellHost === params.get("host"));
    if (button) button.click();
  }

  function setupPalette() {
    const modal = $("#palette");
    if (!modal) return;
    const input = $("#palette-input");
    const list = $("#palette-list");
    let items = [];
    let shown = [];
    let active = 0;
    const render = () => {
      const q = input.value.toLowerCase();
      shown = items.filter((i) => i.label.toLowerCase().includes(q)).slice(0, 50);
      active = Math.min(active, Math.max(shown.length - 1, 0));
      list.innerHTML = "";
      shown.forEach((item, n) => {
        const li = document.createElement("li");
        li.textContent = item.label;
        li.setAttribute("role", "option");
        if (n === active) li.className = "active";
        li.addEventListener("click", () => choose(n));
        list.appendChild(li);
      });
    };
    let opened = 0;
    const open = () => {
      items = paletteItems(); modal.hidden = false; input.value = ""; active = 0; render(); input.focus();
      // Containers come and go (an Up or an Update makes new ids): asked for at each opening.
      const now = ++opened;
      modal.dataset.containers = "loading";
      fetch("/api/containers", { headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
        .then((list) => {
          if (now !== opened) return;
          items = unique(items.concat(containerItems(list)));
          modal.dataset.containers = "loaded";
          if (!modal.hidden) render();
        })
        .catch(() => { if (now === opened) modal.dataset.containers = "failed"; });
    };
    const closeIt = () => { modal.hidden = true; };
    const choose = (n) => { const item = shown[n]; closeIt(); if (item) item.run(); };
    window.cfPalette = { open: open };
    const button = $("#palette-open");
    button.addEventListener("click", open);
    if (/Mac|iPhone|iPad/.test(navigator.platform)) button.querySelector("kbd").textContent = "\u2318 K";
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") { e.preventDefault(); modal.hidden ? open() : closeIt(); }
      else if (!modal.hidden && e.key === "Escape") closeIt();
    });
    input.addEventListener("input", () => { active = 0; render(); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") { active = Math.min(active + 1, shown.length - 1); render(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); render(); e.preventDefault(); }
      else if (e.key === "Enter") { choose(active); e.preventDefault(); }
    });
    modal.addEventListener("click", (e) => { if (e.target === modal) closeIt(); });
  }
})();
