// The stack page's Secrets panel (templates/partials/secrets.html, web/routes/secrets.py).
// Values come to the page only from Reveal (a POST with the CSRF token); Save sends only the
// values typed or changed since they were revealed, and the names removed. The panel arrives
// by HTMX after the page loads: every handler is delegated from the document.
(function () {
  "use strict";

  const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const panel = () => document.getElementById("secrets");
  const status = (text, error) => {
    const el = document.getElementById("secrets-status");
    if (el) { el.textContent = text; el.className = error ? "error" : "muted"; }
  };

  async function post(path, body) {
    const r = await fetch("/api/stack/" + encodeURIComponent(panel().dataset.stack) + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
      cache: "no-store",
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      throw new Error(typeof data.detail === "string" ? data.detail : "refused (" + r.status + ")");
    }
    return data;
  }

  function show(name, value) {
    const input = panel().querySelector('input.secret-value[data-name="' + CSS.escape(name) + '"]');
    if (!input) return;
    input.type = "text";
    input.value = value;
    input.dataset.revealed = value;
    const button = panel().querySelector('button.secret-reveal[data-name="' + CSS.escape(name) + '"]');
    if (button) button.textContent = "Hide";
  }

  function hide(name) {
    const input = panel().querySelector('input.secret-value[data-name="' + CSS.escape(name) + '"]');
    const button = panel().querySelector('button.secret-reveal[data-name="' + CSS.escape(name) + '"]');
    if (input) input.type = "password";
    if (button) button.textContent = "Reveal";
  }

  async function reveal(name) {
    try {
      const data = await post("/secrets/reveal", name ? { name } : {});
      for (const [key, value] of Object.entries(data.values)) show(key, value);
      status("");
    } catch (e) { status("not revealed: " + e.message, true); }
  }

  function add() {
    const name = (window.prompt("Name of the new secret (letters, digits, _)") || "").trim();
    if (!name) return;
    if (!NAME.test(name)) { status("not a variable name: " + name, true); return; }
    if (panel().querySelector('tr[data-name="' + CSS.escape(name) + '"]')) {
      status(name + " exists already", true);
      return;
    }
    const row = document.createElement("tr");
    row.dataset.name = name;
    row.dataset.added = "1";
    const th = document.createElement("th");
    const code = document.createElement("code");
    code.textContent = name;
    th.appendChild(code);
    const td = document.createElement("td");
    const input = document.createElement("input");
    input.type = "text";
    input.className = "secret-value";
    input.dataset.name = name;
    input.autocomplete = "off";
    input.spellcheck = false;
    td.appendChild(input);
    row.append(th, td, document.createElement("td"));
    document.getElementById("secrets-rows").appendChild(row);
    input.focus();
  }

  async function save() {
    const values = {};
    const remove = [];
    for (const row of panel().querySelectorAll("#secrets-rows tr")) {
      const name = row.dataset.name;
      const input = row.querySelector("input.secret-value");
      if (row.classList.contains("removed")) { remove.push(name); continue; }
      const revealed = input.dataset.revealed;
      const typed = revealed === undefined ? input.value !== "" : input.value !== revealed;
      if (row.dataset.added || typed) values[name] = input.value;
    }
    if (!Object.keys(values).length && !remove.length) { status("nothing changed"); return; }
    status("saving...");
    try {
      const data = await post("/secrets/save", { values, remove });
      status(data.changed ? "saved, encrypted: Up recreates what uses them" : "nothing changed");
      const url = "/stack/" + encodeURIComponent(panel().dataset.stack) + "/secrets";
      const keep = document.getElementById("secrets-status").textContent;
      window.htmx.ajax("GET", url, { target: "#secrets", swap: "outerHTML" }).then(() => status(keep));
    } catch (e) { status("not saved: " + e.message, true); }
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target || !target.closest("#secrets")) return;
    if (target.id === "secrets-reveal-all") reveal(null);
    else if (target.id === "secrets-add") add();
    else if (target.id === "secrets-save") save();
    else if (target.classList.contains("secret-reveal")) {
      if (target.textContent === "Hide") hide(target.dataset.name);
      else reveal(target.dataset.name);
    } else if (target.classList.contains("secret-remove")) {
      const row = target.closest("tr");
      const removed = row.classList.toggle("removed");
      row.style.textDecoration = removed ? "line-through" : "";
      row.style.opacity = removed ? "0.5" : "";
      target.textContent = removed ? "Keep" : "Remove";
    }
  });
})();
