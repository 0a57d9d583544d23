// Compose Farm UI behaviour: task output over WebSockets, logs, terminals,
// editors and the command palette. No framework; HTMX does the requests.
(function () {
  "use strict";

  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const wsUrl = (path) => (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  const $ = (sel) => document.querySelector(sel);
  const refresh = () => document.body.dispatchEvent(new Event("cf:refresh"));

  // ---------------------------------------------------------------- output drawer
  // One panel for a task's output and for logs: resizable (its height is kept), search
  // (lines that do not match are hidden), pause (new lines wait, counted, until resume);
  // for logs also a service filter, the engine's timestamps, and a page of their own.
  let outputSocket = null;
  let logsFollowed = null; // {stack, host, container, name, service, timestamps, services}
  let paused = false;
  let held = [];
  const MAX_LINES = 10000;

  function openDrawer(title, kind) {
    const drawer = $("#output");
    if (!drawer) return;
    drawer.hidden = false;
    drawer.dataset.kind = kind || "task";
    $("#output-title").textContent = title;
    setStatus("running", "warn");
    $("#output-lines").textContent = "";
    held = [];
    setPaused(false);
    const logs = kind === "logs";
    $("#output-service").hidden = !(logs && logsFollowed && !logsFollowed.container && logsFollowed.services.length);
    $("#output-stamps-label").hidden = !logs;
    $("#output-page").hidden = !logs || drawer.classList.contains("full");
    keepRoom();
  }

  function setStatus(text, kind) {
    const status = $("#output-status");
    status.textContent = text;
    status.className = "badge" + (kind ? " " + kind : "");
  }

  function matches(span) {
    const q = $("#output-search").value.toLowerCase();
    return !q || span.textContent.toLowerCase().includes(q);
  }

  function countMatches() {
    const q = $("#output-search").value;
    const shown = q ? [...$("#output-lines").children].filter((s) => !s.hidden).length : null;
    $("#output-matches").textContent = shown === null ? "" : shown + " match" + (shown === 1 ? "" : "es");
  }

  function appendLine(item) {
    const pre = $("#output-lines");
    if (!pre) return;
    const span = document.createElement("span");
    span.className = "line-" + (item.stream || "stdout");
    const label = item.stack ? (item.host && item.host !== "-" ? item.stack + "@" + item.host : item.stack) : item.host;
    span.textContent = (label ? "[" + label + "] " : "") + item.text + "\n";
    if (paused) {
      held.push(span);
      setStatus("paused, " + held.length + " new", "warn");
      return;
    }
    show([span]);
  }

  function show(spans) {
    const pre = $("#output-lines");
    const atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    spans.forEach((span) => { span.hidden = !matches(span); pre.appendChild(span); });
    while (pre.childElementCount > MAX_LINES) pre.removeChild(pre.firstElementChild);
    if ($("#output-search").value) countMatches();
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  function setPaused(on) {
    paused = on;
    const button = $("#output-pause");
    if (!button) return;
    button.textContent = on ? "Resume" : "Pause";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    if (!on && held.length) {
      const waiting = held; held = [];
      show(waiting);
    }
    if (!on && $("#output-status").textContent.startsWith("paused")) setStatus(logsFollowed ? "following" : "running", "");
  }

  function finish(ok, summary) {
    setPaused(false);
    setStatus(ok ? "done" : "failed", ok ? "ok" : "bad");
    if (summary) appendLine({ stream: ok ? "info" : "error", text: summary });
  }

  // The page's content keeps room for the drawer, so it never hides the end of the page.
  function keepRoom() {
    const drawer = $("#output");
    const overlay = drawer && !drawer.hidden && !drawer.classList.contains("full");
    document.body.style.paddingBottom = overlay ? drawer.offsetHeight + "px" : "";
  }

  function setupDrawer() {
    const drawer = $("#output");
    if (!drawer) return;
    const saved = +localStorage.getItem("cf-drawer-height");
    if (saved > 0 && !drawer.classList.contains("full")) drawer.style.height = Math.min(saved, window.innerHeight - 60) + "px";
    const grip = $("#output-grip");
    grip.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      grip.setPointerCapture(e.pointerId);
      const move = (ev) => {
        const height = Math.max(120, Math.min(window.innerHeight - 60, window.innerHeight - ev.clientY));
        drawer.style.height = height + "px";
        keepRoom();
      };
      const up = () => {
        grip.removeEventListener("pointermove", move);
        localStorage.setItem("cf-drawer-height", String(drawer.offsetHeight));
      };
      grip.addEventListener("pointermove", move);
      grip.addEventListener("pointerup", up, { once: true });
    });
    $("#output-search").addEventListener("input", () => {
      [...$("#output-lines").children].forEach((span) => { span.hidden = !matches(span); });
      countMatches();
    });
    $("#output-pause").addEventListener("click", () => setPaused(!paused));
    $("#output-service").addEventListener("change", (e) => {
      if (!logsFollowed) return;
      logsFollowed.service = e.target.value || null;
      connectLogs();
    });
    $("#output-stamps").addEventListener("change", (e) => {
      if (!logsFollowed) return;
      logsFollowed.timestamps = e.target.checked;
      connectLogs();
    });
    $("#output-close").addEventListener("click", () => {
      if (outputSocket) outputSocket.close();
      logsFollowed = null;
      drawer.hidden = true;
      keepRoom();
    });
    window.addEventListener("resize", keepRoom);
    const follow = $("#logs-follow");
    if (follow) {
      const f = JSON.parse(follow.textContent);
      followLogs(f.stack, f.host, f.container, null, f.services, f.service);
    }
  }

  function followTask(id, title) {
    if (outputSocket) outputSocket.close();
    logsFollowed = null;
    openDrawer(title || "Task", "task");
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
  function followLogs(stack, host, container, name, services, service) {
    logsFollowed = {
      stack: stack, host: host || null, container: container || null, name: name || null,
      services: services || [], service: service || null, timestamps: $("#output-stamps") ? $("#output-stamps").checked : false,
    };
    const select = $("#output-service");
    if (select) {
      select.textContent = "";
      ["", ...logsFollowed.services].forEach((s) => {
        const option = document.createElement("option");
        option.value = s;
        option.textContent = s || "All services";
        select.appendChild(option);
      });
      select.value = logsFollowed.service || "";
    }
    connectLogs();
  }

  function connectLogs() {
    const f = logsFollowed;
    if (outputSocket) outputSocket.close();
    openDrawer("Logs: " + f.stack + (f.container ? " / " + (f.name || f.container.slice(0, 12)) + "@" + f.host : "") +
      (f.service ? " / " + f.service : ""), "logs");
    setStatus("following", "");
    let query = "?tail=200";
    if (f.host) query += "&host=" + encodeURIComponent(f.host);
    if (f.container) query += "&container=" + encodeURIComponent(f.container);
    if (f.service && !f.container) query += "&service=" + encodeURIComponent(f.service);
    if (f.timestamps) query += "&timestamps=true";
    const page = $("#output-page");
    if (page) {
      const own = new URLSearchParams();
      if (f.service && !f.container) own.set("service", f.service);
      if (f.host) own.set("host", f.host);
      if (f.container) own.set("container", f.container);
      page.href = "/logs/" + encodeURIComponent(f.stack) + (own.toString() ? "?" + own : "");
    }
    const ws = new WebSocket(wsUrl("/ws/logs/" + encodeURIComponent(f.stack) + query));
    outputSocket = ws;
    ws.onmessage = (msg) => appendLine(JSON.parse(msg.data));
    ws.onclose = () => { if (outputSocket === ws) setStatus("stopped", ""); };
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.body.addEventListener("cf:task", (e) => followTask(e.detail.id, e.detail.title));
    document.body.addEventListener("htmx:responseError", (e) => {
      openDrawer("Request failed", "task");
      finish(false, e.detail.xhr.status + " " + e.detail.xhr.responseText);
    });
    setupDrawer();
    document.addEventListener("click", (e) => {
      const task = e.target.closest("[data-task]");
      if (task) followTask(task.dataset.task, task.dataset.title);
      const logs = e.target.closest("[data-logs]");
      if (logs) {
        const services = logs.dataset.logsServices ? logs.dataset.logsServices.split(",") : [];
        followLogs(logs.dataset.logs, logs.dataset.logsHost, logs.dataset.logsContainer, logs.dataset.logsName, services);
      }
      const shell = e.target.closest("[data-shell-host]");
      if (shell) openShell(shell.dataset.shellHost, shell.dataset.shellStack, shell.dataset.shellContainer, shell.dataset.shellName);
    });
    const saved = sessionStorage.getItem("cf-task");
    if (saved && !$("#logs-follow")) {
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
  // Terminals follow the page's theme (static/theme.js), also when it changes later.
  const TERMINAL_THEMES = {
    dark: { background: "#0f1623", foreground: "#d8dee9", cursor: "#d8dee9", selectionBackground: "#3b4a63" },
    light: { background: "#ffffff", foreground: "#1d2430", cursor: "#1d2430", selectionBackground: "#c9d7f5" },
  };
  const terminals = new Set();
  const terminalTheme = () => TERMINAL_THEMES[window.cfTheme ? window.cfTheme.effective() : "dark"];
  document.addEventListener("cf:theme", () => terminals.forEach((t) => {
    t.options.theme = terminalTheme();
    if (t.element && t.element.parentElement) t.element.parentElement.style.background = terminalTheme().background;
  }));
  window.cfTerminals = terminals;

  function startTerminal(box, query) {
    box.textContent = "";
    const term = new window.Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, theme: terminalTheme() });
    terminals.add(term);
    box.style.background = terminalTheme().background;
    const dispose = term.dispose.bind(term);
    term.dispose = () => { terminals.delete(term); dispose(); };
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
  // Ctrl/Cmd-S saves; leaving with unsaved edits asks first; History shows the kept
  // versions with a diff to the file now, and restores one into the editor (saved only
  // when the user saves); a refused save marks the line its message names.
  function setupEditor() {
    const area = $("#editor");
    if (!area || !window.CodeMirror) return;
    const editor = window.CodeMirror.fromTextArea(area, { lineNumbers: true, mode: "yaml", indentUnit: 2 });
    window.cfEditor = editor;
    const status = $("#editor-status");
    let url = null;
    let clean = editor.changeGeneration();
    let marked = null;
    const dirty = () => !editor.isClean(clean);
    const showDirty = () => { area.dataset.dirty = dirty() ? "1" : ""; $("#editor-save").classList.toggle("unsaved", dirty()); };
    editor.on("change", showDirty);
    const unmark = () => { if (marked !== null) { editor.removeLineClass(marked, "wrap", "cm-error-line"); marked = null; } };
    const load = (file) => {
      unmark();
      url = area.dataset.config ? "/api/config" : "/api/stack/" + encodeURIComponent(area.dataset.stack) + "/file/" + encodeURIComponent(file);
      editor.setOption("mode", file === ".env" ? "properties" : "yaml");
      return fetch(url, { headers: { Accept: "application/json" } })
        .then((r) => r.json())
        .then((data) => {
          editor.setValue(data.text || ""); editor.clearHistory();
          clean = editor.changeGeneration(); showDirty();
          status.textContent = data.path || ""; status.className = "muted";
        });
    };
    document.querySelectorAll("[data-file]").forEach((tab) => tab.addEventListener("click", () => {
      if (tab.classList.contains("active")) return;
      if (dirty() && !window.confirm("Discard the unsaved edits of this file?")) return;
      document.querySelectorAll("[data-file]").forEach((t) => t.classList.remove("active"));
      tab.classList.add("active");
      area.dataset.file = tab.dataset.file;
      load(tab.dataset.file);
    }));
    load(area.dataset.file || "");
    function save() {
      status.textContent = "saving..."; status.className = "muted";
      const generation = editor.changeGeneration();
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ text: editor.getValue() }),
      }).then(async (r) => {
        const data = await r.json();
        unmark();
        if (r.ok) {
          clean = generation; showDirty();
          status.textContent = "saved" + (data.backup ? " (previous version kept)" : "");
          status.className = "muted saved";
          refresh();
          return;
        }
        const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
        status.textContent = "not saved: " + detail;
        status.className = "error";
        // "FILE:LINE: what", as every parser of cf says it
        const line = /:(\d+):/.exec(detail);
        if (line && +line[1] >= 1 && +line[1] <= editor.lineCount()) {
          marked = +line[1] - 1;
          editor.addLineClass(marked, "wrap", "cm-error-line");
          editor.scrollIntoView({ line: marked, ch: 0 }, 80);
          area.dataset.errorLine = line[1];
        }
      });
    }
    $("#editor-save").addEventListener("click", save);
    // The page's Ctrl/Cmd-S (outside the editor too) saves rather than "Save page as".
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") { e.preventDefault(); save(); }
    });
    window.addEventListener("beforeunload", (e) => { if (dirty()) { e.preventDefault(); e.returnValue = ""; } });
    setupHistory(editor, () => url, () => { showDirty(); });
  }

  function setupHistory(editor, currentUrl, changed) {
    const button = $("#editor-history");
    const modal = $("#history-modal");
    if (!button || !modal) return;
    const list = $("#history-list");
    const diff = $("#history-diff");
    const restore = $("#history-restore");
    let chosen = null;
    const get = (path) => fetch(path, { headers: { Accept: "application/json" } }).then(async (r) => {
      const data = await r.json();
      if (!r.ok) throw new Error(data.detail || String(r.status));
      return data;
    });
    const showDiff = (text) => {
      diff.textContent = "";
      (text || "No difference: the file now is this version.\n").split("\n").forEach((line) => {
        const span = document.createElement("span");
        span.className = line.startsWith("+") ? "diff-add" : line.startsWith("-") ? "diff-del" : line.startsWith("@@") ? "diff-hunk" : "";
        span.textContent = line + "\n";
        diff.appendChild(span);
      });
    };
    const pick = (id, item) => {
      list.querySelectorAll("li").forEach((li) => li.classList.toggle("active", li === item));
      get(currentUrl() + "/backups/" + encodeURIComponent(id)).then((data) => {
        chosen = data; restore.disabled = false; showDiff(data.diff);
      }).catch((err) => { chosen = null; restore.disabled = true; diff.textContent = String(err.message); });
    };
    button.addEventListener("click", () => {
      modal.hidden = false; chosen = null; restore.disabled = true;
      list.textContent = ""; diff.textContent = "";
      get(currentUrl() + "/backups").then((data) => {
        if (!data.backups.length) { diff.textContent = "No kept versions yet: one is kept at each save."; return; }
        data.backups.forEach((b, n) => {
          const li = document.createElement("li");
          li.textContent = b.saved + " UTC";
          li.dataset.kept = b.id;
          li.addEventListener("click", () => pick(b.id, li));
          list.appendChild(li);
          if (n === 0) pick(b.id, li);
        });
      }).catch((err) => { diff.textContent = String(err.message); });
    });
    restore.addEventListener("click", () => {
      if (!chosen) return;
      editor.setValue(chosen.text);
      changed();
      modal.hidden = true;
      $("#editor-status").textContent = "restored into the editor: Save to keep it";
    });
    $("#history-close").addEventListener("click", () => { modal.hidden = true; });
    modal.addEventListener("click", (e) => { if (e.target === modal) modal.hidden = true; });
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
