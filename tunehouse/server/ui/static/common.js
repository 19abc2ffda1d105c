// Shared by every page: calls to the JSON API with the session's CSRF token, what happens
// when the session ended (the sign-in page, coming back here after), the refresh of a
// page's live part, notices and tabs. Exposed as window.TH.
"use strict";
window.TH = (() => {
  function csrf() {
    const match = document.cookie.match(/(?:^|; )tunehouse_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // The session ended (expired, or signed out elsewhere): a 401, or a page request sent
  // to the sign-in page.
  function sessionEnded(response) {
    return response.status === 401 ||
      (response.redirected && new URL(response.url).pathname === "/login");
  }

  // Go to the sign-in page, which comes back to this page after.
  function signIn() {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  // Call a JSON route of this server; resolves to the parsed answer (null for 204),
  // rejects with an Error carrying the server's message. An ended session opens the
  // sign-in page.
  async function request(method, url, body) {
    const options = {method, credentials: "same-origin", headers: {Accept: "application/json"}};
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    if (sessionEnded(response)) {
      signIn();
      throw new Error("Your session ended: sign in again.");
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = data && data.error ? data.error.message : response.statusText;
      throw new Error(message || ("HTTP " + response.status));
    }
    return data;
  }

  // Call the JSON API (paths under /api/v1).
  function api(method, path, body) {
    return request(method, "/api/v1" + path, body);
  }

  // The live part of a page: the element `id` is refreshed by fetching the page again
  // and swapping in the inside of its fresh copy (listeners on the element itself stay),
  // every `every` ms while the page is visible (0: only when the returned function is
  // called), one fetch at a time. `reloadIf(freshDocument)` true: the whole page is
  // reloaded instead (nothing is swapped in first); `after(freshDocument)` runs after
  // each swap. A failure is a notice; an ended session opens the sign-in page. Returns
  // the refresh function (null when the page has no such element).
  function live(id, {every = 5000, reloadIf, after} = {}) {
    const box = document.getElementById(id);
    if (!box) return null;
    let busy = false;
    let ended = false;
    async function refresh() {
      if (busy || ended) return;
      busy = true;
      try {
        const response = await fetch(location.pathname + location.search,
          {credentials: "same-origin", headers: {Accept: "text/html"}});
        if (sessionEnded(response)) {
          ended = true;
          signIn();
          return;
        }
        if (!response.ok) throw new Error("refreshing the page failed: HTTP " + response.status);
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        if (reloadIf && reloadIf(page)) {
          ended = true;
          location.reload();
          return;
        }
        const fresh = page.getElementById(id);
        if (fresh) box.innerHTML = fresh.innerHTML;
        box.dataset.refreshed = String(Date.now());
        if (after) await after(page);
      } catch (error) {
        notice(error.message, true);
      } finally {
        busy = false;
      }
    }
    if (every > 0) setInterval(() => { if (!document.hidden) refresh(); }, every);
    return refresh;
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
  return {api, request, live, signIn, csrf, notice, attempt, esc};
})();
