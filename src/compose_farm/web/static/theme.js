// The theme toggle: system, light or dark, kept in localStorage. Loaded in <head>
// without defer, so the page is painted in the chosen theme from the start.
// <html data-theme> holds a choice (none: the system's); "cf:theme" on document
// tells the editor and the terminals (app.js) when the effective theme changes.
(function () {
  "use strict";
  const KEY = "cf-theme";
  const CHOICES = ["system", "light", "dark"];
  const root = document.documentElement;
  const media = window.matchMedia("(prefers-color-scheme: dark)");

  function chosen() {
    const value = localStorage.getItem(KEY);
    return CHOICES.includes(value) ? value : "system";
  }

  function effective() {
    const choice = chosen();
    return choice === "system" ? (media.matches ? "dark" : "light") : choice;
  }

  function apply() {
    const choice = chosen();
    if (choice === "system") delete root.dataset.theme;
    else root.dataset.theme = choice;
    const button = document.getElementById("theme-toggle");
    if (button) {
      button.dataset.choice = choice;
      button.title = "Theme: " + choice + " (click to change)";
      button.setAttribute("aria-label", button.title);
      button.querySelectorAll("[data-theme-icon]").forEach((icon) => {
        icon.hidden = icon.dataset.themeIcon !== choice;
      });
    }
    document.dispatchEvent(new CustomEvent("cf:theme", { detail: { theme: effective() } }));
  }

  window.cfTheme = { effective: effective, chosen: chosen };
  apply();
  media.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", () => {
    apply();
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", () => {
      const next = CHOICES[(CHOICES.indexOf(chosen()) + 1) % CHOICES.length];
      localStorage.setItem(KEY, next);
      apply();
    });
  });
})();
