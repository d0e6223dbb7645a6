// callscope web app: the audio player follows the transcript, the call's talk lanes, its
// sentiment chart's turns and search hits seek it, saved queries. No libraries.
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
  if (!transcript) return null;
  const hit = transcript.querySelector(".seg.hit");
  if (hit) hit.scrollIntoView({ block: "center" });
  if (!audio) return null;
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
    moveCursors(t);
    const now = segments.find((s) => t >= parseFloat(s.dataset.start) && t < parseFloat(s.dataset.end));
    if (now === current) return;
    if (current) current.classList.remove("now");
    current = now || null;
    if (current) {
      current.classList.add("now");
      if (!follow || follow.checked) current.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });
  function seek(seconds) {
    started = true;
    audio.currentTime = seconds;
    moveCursors(seconds);
    audio.play().catch(() => {});
  }
  transcript.addEventListener("click", (event) => {
    const button = event.target.closest("[data-seek]");
    if (button) seek(parseFloat(button.dataset.seek));
  });
  return seek;
}

// the call page's talk lanes: a cursor at the audio's position (charts.js moves the
// sentiment chart's)
function moveCursors(seconds) {
  document.querySelectorAll("#timeline .cursor").forEach((line) => {
    line.setAttribute("x1", seconds);
    line.setAttribute("x2", seconds);
    line.classList.add("on");
  });
}

function showSegment(idx) {
  const segment = document.getElementById("seg-" + idx);
  if (segment) segment.scrollIntoView({ block: "center", behavior: "smooth" });
  return segment;
}

// a click on a lane's block, or on a turn of the sentiment chart (charts.js sends
// callscope:seek), plays the call from that turn (scrolls to it without audio)
function setupLanes(seek) {
  const lanes = document.getElementById("lanes");
  if (!lanes) return;
  function playFrom(seg, seconds) {
    if (seg !== null && seg !== undefined) showSegment(seg);
    if (seek) seek(seconds);
  }
  lanes.addEventListener("click", (event) => {
    const block = event.target.closest("[data-seg]");
    if (block) playFrom(block.dataset.seg, parseFloat(block.dataset.start));
  });
  document.addEventListener("callscope:seek", (event) => playFrom(event.detail.seg, event.detail.seconds));
}

// next / previous turn holding the search term: scroll there, and seek where there is audio
function setupHitNav(seek) {
  const nav = document.getElementById("hit-nav");
  if (!nav) return;
  const marked = Array.from(document.querySelectorAll("#transcript .seg.marked"));
  if (!marked.length) return;
  const opened = document.querySelector("#transcript .seg.hit.marked");
  let at = opened ? marked.indexOf(opened) : -1;
  function go(step) {
    at = at < 0 && step < 0 ? marked.length - 1 : (at + step + marked.length) % marked.length;
    marked.forEach((s) => s.classList.remove("at-hit"));
    const segment = marked[at];
    segment.classList.add("at-hit");
    segment.scrollIntoView({ block: "center", behavior: "smooth" });
    if (seek) seek(parseFloat(segment.dataset.start));
  }
  document.getElementById("hit-next").addEventListener("click", () => go(1));
  document.getElementById("hit-prev").addEventListener("click", () => go(-1));
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
  const seek = setupPlayer();
  setupLanes(seek);
  setupHitNav(seek);
  setupSaved();
});
