// The console's one script, an enhancement only: every page works without it.
// 1. Parts marked data-live refresh every few seconds (new messages appear without a
//    reload), by fetching the same page and swapping those parts in.
// 2. A CSV upload shows its upload progress, then the import's own page follows it.
// 3. Once the user allows it, a browser notification when a lead starts waiting for a
//    person (handed over by a plugin, or taken over from the Instagram app), from any page.
"use strict";

const REFRESH_MS = 3000;

async function refreshLive() {
  const live = document.querySelectorAll("[data-live][id]");
  if (live.length === 0 || document.visibilityState !== "visible") return;
  let response;
  try {
    response = await fetch(location.href, { credentials: "same-origin" });
  } catch (_) {
    return;
  }
  // Logged out meanwhile: the page would be the login form; stop refreshing.
  if (!response.ok || response.redirected) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const part of live) {
    const next = fresh.getElementById(part.id);
    if (next && next.innerHTML !== part.innerHTML) part.innerHTML = next.innerHTML;
  }
}

function showRefusal(form, text) {
  let shown = form.querySelector("p[role=alert]");
  if (!shown) {
    shown = document.createElement("p");
    shown.setAttribute("role", "alert");
    form.prepend(shown);
  }
  shown.textContent = "Not imported: " + text;
}

function showUploadProgress(form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // Over the server's limit: said before sending megabytes for nothing.
    const file = form.querySelector("input[type=file]").files[0];
    const limit = Number(form.dataset.maxBytes);
    if (file && limit && file.size > limit) {
      showRefusal(form, "the file is over " + Math.floor(limit / 1048576) +
        " MiB: split it, or import it with `outreach leads import FILE`, which has no size limit");
      return;
    }
    const progress = form.querySelector("progress");
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", (e) => {
      if (progress && e.lengthComputable) {
        progress.hidden = false;
        progress.value = Math.round((e.loaded / e.total) * 100);
      }
    });
    request.addEventListener("error", () => {
      form.querySelector("button[type=submit]").disabled = false;
      if (progress) progress.hidden = true;
      alert("The upload did not reach the server; nothing was imported.");
    });
    // The upload answers with the import's own page (it follows the redirect): go there.
    // A refusal (a file over the limit, a form from another session) is a page whose alert
    // says why: show it, and leave the form as it was for another try.
    request.addEventListener("load", () => {
      if (request.status < 400) return location.assign(request.responseURL);
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      const why = page.querySelector("[role=alert]");
      form.querySelector("button[type=submit]").disabled = false;
      if (progress) progress.hidden = true;
      showRefusal(form, why ? why.textContent : "the server refused the upload (" + request.status + ")");
    });
    request.send(new FormData(form));
    form.querySelector("button[type=submit]").disabled = true;
  });
}

// The leads this tab knew to be waiting, kept for the tab's life: a lead is notified of when
// it starts waiting, not on every page load, and again if it waits again later.
const WAITING_KEY = "outreach.waiting";

function notificationsAllowed() {
  return "Notification" in window && Notification.permission === "granted";
}

async function notifyWaiting() {
  if (!notificationsAllowed()) return;
  let response;
  try {
    response = await fetch("/console/waiting", { credentials: "same-origin" });
  } catch (_) {
    return;
  }
  if (!response.ok || response.redirected) return;
  const waiting = await response.json();
  const known = sessionStorage.getItem(WAITING_KEY);
  const before = new Set(known === null ? waiting.map((lead) => lead.handle) : JSON.parse(known));
  for (const lead of waiting) {
    if (before.has(lead.handle)) continue;
    const shown = new Notification("@" + lead.handle + " needs a person", {
      body: lead.name || "Handed over: open the inbox to answer.",
      tag: "outreach-" + lead.handle,
    });
    shown.addEventListener("click", () => {
      window.focus();
      location.assign("/console?open=" + encodeURIComponent(lead.handle));
    });
  }
  sessionStorage.setItem(WAITING_KEY, JSON.stringify(waiting.map((lead) => lead.handle)));
}

function offerNotifications(button) {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    button.hidden = true;
    notifyWaiting();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-upload]")) showUploadProgress(form);
  const offer = document.getElementById("notify-me");
  if (offer) offerNotifications(offer);
  // "Reply queued" is said once: a reload does not say it again.
  const here = new URL(location.href);
  if (here.searchParams.has("sent")) {
    here.searchParams.delete("sent");
    history.replaceState(null, "", here);
  }
  notifyWaiting();
  setInterval(() => {
    refreshLive();
    notifyWaiting();
  }, REFRESH_MS);
});
