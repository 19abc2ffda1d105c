// Shared by every page: calls to the JSON API with the session's CSRF token, notices,
// and tabs. Exposed as window.TH.
"use strict";
window.TH = (() => {
  function csrf() {
    const match = document.cookie.match(/(?:^|; )tunehouse_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Call the JSON API; resolves to the parsed answer (null for 204), rejects with an
  // Error carrying the server's message.
  async function api(method, path, body) {
    const options = {method, credentials: "same-origin", headers: {Accept: "application/json"}};
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch("/api/v1" + path, options);
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = data && data.error ? data.error.message : response.statusText;
      throw new Error(message || ("HTTP " + response.status));
    }
    return data;
  }

  function notice(text, isError) {
    const box = document.getElementById("notice");
    if (!box) return;
    box.textContent = text;
    box.className = "notice" + (isError ? " error" : "");
    box.hidden = false;
    clearTimeout(notice.timer);
    if (!isError) notice.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  // Run an action, reporting its failure as a notice instead of an uncaught error.
  async function attempt(action) {
    try {
      return await action();
    } catch (error) {
      notice(error.message, true);
      return undefined;
    }
  }

  // Tabs: <nav class="tabs"> links to #section ids; the hash picks the open one.
  function tabs() {
    const nav = document.querySelector("nav.tabs");
    if (!nav) return;
    const links = [...nav.querySelectorAll("a[data-tab]")];
    function show() {
      const wanted = location.hash.slice(1);
      const name = links.some((a) => a.dataset.tab === wanted) ? wanted : links[0].dataset.tab;
      for (const link of links) {
        const on = link.dataset.tab === name;
        link.classList.toggle("on", on);
        document.getElementById(link.dataset.tab).hidden = !on;
      }
      document.dispatchEvent(new CustomEvent("tab-shown", {detail: name}));
    }
    window.addEventListener("hashchange", show);
    show();
  }

  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
      '"': "&quot;", "'": "&#39;"}[c]));
  }

  document.addEventListener("DOMContentLoaded", tabs);
  return {api, csrf, notice, attempt, esc};
})();
