// Live stream console: polls the JSON API and updates the progress bar until the recording is ready.
(function () {
  "use strict";
  var consoleEl = document.getElementById("console");
  if (!consoleEl) { return; }
  var url = consoleEl.getAttribute("data-status-url");
  var LIVE = { queued: true, running: true };
  var LABELS = { queued: "Queued", running: "Running", completed: "Completed", stopped: "Stopped",
                 denied: "Denied by the license gate", failed: "Failed" };
  var POLL_MS = 1000;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }

  function clock(seconds) {
    var s = Math.round(seconds || 0);
    var rest = s % 60;
    return Math.floor(s / 60) + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function showRecording(src) {
    var box = document.getElementById("recording");
    if (!box || box.querySelector("video")) { return; }
    var video = document.createElement("video");
    video.controls = true;
    video.preload = "metadata";
    video.src = src;
    box.replaceChildren(video);
  }

  function render(stream) {
    var bar = document.getElementById("stream-progress");
    bar.max = stream.segment_count;
    bar.value = stream.segments_done;
    bar.textContent = stream.segments_done + " of " + stream.segment_count;
    text("stream-segments", stream.segments_done + " / " + stream.segment_count);
    text("stream-seconds", clock(stream.seconds_rendered));
    var badge = document.getElementById("stream-status");
    badge.textContent = LABELS[stream.status] || stream.status;
    badge.className = "badge " + stream.status;
    var live = !!LIVE[stream.status];
    document.getElementById("stream-stopping").hidden = !(live && stream.stop_requested);
    var ended = document.getElementById("stream-ended");
    ended.hidden = live;
    if (!live) {
      ended.className = "notice " + (stream.status === "completed" ? "success" : "error");
      text("stream-end-text", stream.end_reason_text);
      text("stream-end-reason", stream.end_reason);
      text("stream-end-detail", stream.end_detail || "");
      var stop = document.getElementById("stop-form");
      if (stop) { stop.hidden = true; }
    }
    if (stream.recording_url) { showRecording(stream.recording_url); }
    // After the end, keep polling only while a recording of published segments is being signed.
    return live || (stream.segments_done > 0 && !stream.recording_url);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (stream) { if (render(stream)) { window.setTimeout(poll, POLL_MS); } })
      .catch(function () { window.setTimeout(poll, POLL_MS * 5); });
  }

  poll();
})();
