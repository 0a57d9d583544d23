// The containers page: a filter (words found in any column, and all / running / stopped)
// and a sort by column. Both live here, not in the table: the table is replaced by HTMX
// every 15 s and after each action, and they are applied again to each new one. They are
// kept for the tab's session too (a reload keeps them). Logs, Restart and Shell are
// app.js's, through the rows' data-* attributes.
(function () {
  "use strict";

  const KEY = "cf-containers";
  const COLUMNS = ["host", "stack", "service", "state", "uptime", "image"];
  const NUMERIC = new Set(["uptime", "order"]);
  const view = { text: "", state: "all", sort: "", dir: 1 };

  function restore() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || "{}");
      if (typeof saved.text === "string") view.text = saved.text;
      if (["all", "running", "stopped"].includes(saved.state)) view.state = saved.state;
      if (COLUMNS.includes(saved.sort)) view.sort = saved.sort;
      if (saved.dir === -1) view.dir = -1;
    } catch (e) { /* a damaged entry: the defaults */ }
  }

  const save = () => sessionStorage.setItem(KEY, JSON.stringify(view));

  function value(row, key) {
    const raw = row.dataset[key] || "";
    return NUMERIC.has(key) ? Number(raw) : raw.toLowerCase();
  }

  // Rows in the chosen order (ties, and no choice, in the server's order: host, stack...)
  function order(rows) {
    const key = view.sort || "order";
    const dir = view.sort ? view.dir : 1;
    return rows.slice().sort((a, b) => {
      const x = value(a, key), y = value(b, key);
      const by = NUMERIC.has(key) ? x - y : x.localeCompare(y, undefined, { numeric: true });
      return by * dir || value(a, "order") - value(b, "order");
    });
  }

  function matches(row, words) {
    if (view.state !== "all" && (row.dataset.running === "1") !== (view.state === "running")) return false;
    const text = row.textContent.toLowerCase();
    return words.every((w) => text.includes(w));
  }

  function apply() {
    const count = document.getElementById("containers-count");
    const body = document.querySelector("#farm-containers table.farm tbody");
    if (!body) {
      if (count) count.textContent = "";
      return;
    }
    const rows = order([...body.rows]);
    rows.forEach((row) => body.appendChild(row));
    const words = view.text.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    rows.forEach((row) => {
      row.hidden = !matches(row, words);
      if (!row.hidden) shown += 1;
    });
    if (count) count.textContent = shown === rows.length ? rows.length + " shown" : shown + " of " + rows.length + " shown";
    document.querySelectorAll("#farm-containers th button[data-sort]").forEach((button) => {
      const on = button.dataset.sort === view.sort;
      const th = button.closest("th");
      if (on) th.setAttribute("aria-sort", view.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
      button.dataset.dir = on ? (view.dir > 0 ? "asc" : "desc") : "";
      button.title = "Sort by " + button.textContent.trim().toLowerCase() + (on && view.dir > 0 ? ", descending" : "");
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("farm-containers");
    if (!section) return;
    restore();
    const filter = document.getElementById("containers-filter");
    const state = document.getElementById("containers-state");
    filter.value = view.text;
    state.value = view.state;
    filter.addEventListener("input", () => { view.text = filter.value; save(); apply(); });
    state.addEventListener("change", () => { view.state = state.value; save(); apply(); });
    // The header is part of the table HTMX replaces: one listener on the section.
    section.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-sort]");
      if (!button) return;
      const key = button.dataset.sort;
      if (!COLUMNS.includes(key)) return;
      view.dir = view.sort === key ? -view.dir : 1;
      view.sort = key;
      save();
      apply();
    });
    document.body.addEventListener("htmx:afterSwap", (e) => {
      if (e.detail.target === section) apply();
    });
    apply();
  });
})();
