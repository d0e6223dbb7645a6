// callscope web app: the audio player follows the transcript, saved queries. No libraries.
// Its messages come translated from the page (data- attributes), in the page's language.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function send(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

function setupPlayer() {
  const audio = document.getElementById("audio");
  const transcript = document.getElementById("transcript");
  if (!transcript) return;
  const hit = transcript.querySelector(".seg.hit");
  if (hit) hit.scrollIntoView({ block: "center" });
  if (!audio) return;
  const segments = Array.from(transcript.querySelectorAll(".seg"));
  const follow = document.getElementById("follow");
  const start = parseFloat(audio.dataset.start || "0") || 0;
  let started = false;
  function seekToStart() {
    if (started) return;
    started = true;
    audio.currentTime = start;
    audio.play().catch(() => { /* autoplay may be blocked: the position is set */ });
  }
  if (audio.readyState >= 1) seekToStart();
  else audio.addEventListener("loadedmetadata", seekToStart, { once: true });
  let current = null;
  audio.addEventListener("timeupdate", () => {
    const t = audio.currentTime;
    const now = segments.find((s) => t >= parseFloat(s.dataset.start) && t < parseFloat(s.dataset.end));
    if (now === current) return;
    if (current) current.classList.remove("now");
    current = now || null;
    if (current) {
      current.classList.add("now");
      if (!follow || follow.checked) current.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });
  transcript.addEventListener("click", (event) => {
    const button = event.target.closest("[data-seek]");
    if (!button) return;
    started = true;
    audio.currentTime = parseFloat(button.dataset.seek);
    audio.play().catch(() => {});
  });
}

function setupSaved() {
  const form = document.getElementById("save-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = document.getElementById("save-query");
      try {
        const saved = await send("POST", "/api/saved", {
          name: document.getElementById("save-name").value,
          params: JSON.parse(form.dataset.params),
        });
        window.location.href = "/saved/" + encodeURIComponent(saved.id);
      } catch (error) {
        button.textContent = (form.dataset.failed || "Not saved:") + " " + error.message;
      }
    });
  }
  document.querySelectorAll(".delete-saved").forEach((button) => {
    button.addEventListener("click", async () => {
      if (!window.confirm(button.dataset.confirm || "Delete this themed list?")) return;
      await send("DELETE", "/api/saved/" + encodeURIComponent(button.dataset.id));
      window.location.href = "/search";
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupPlayer();
  setupSaved();
});
