// The board's live parts: readings and alert changes from /ui/live (server-sent events). Without this script the
// board still shows the values as of loading, and every form works.
(function () {
  "use strict";
  var holder = document.querySelector("[data-live-url]");
  if (!holder || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  function say(text) { if (status) { status.textContent = text; } }
  var UNITS = { "Cel": "°C", "degC": "°C", "pct": "%" };

  function plot(svg, ts, value) {
    var d = svg.dataset, t0 = +d.t0, t1 = +d.t1, low = +d.low, high = +d.high;
    var line = svg.querySelector("polyline.trace");
    if (!line || !(high > low) || !(t1 > t0)) { return; }
    var fx = Math.min(Math.max((ts - t0) / (t1 - t0), 0), 1);
    var fy = Math.min(Math.max((value - low) / (high - low), 0), 1);
    var x = +d.left + +d.w * fx, y = +d.top + +d.h * (1 - fy);
    var points = (line.getAttribute("points") || "").trim();
    line.setAttribute("points", (points ? points + " " : "") + x.toFixed(1) + "," + y.toFixed(1));
  }

  function onReading(event) {
    var r = JSON.parse(event.data);
    var box = document.querySelector('.channel[data-key="' + CSS.escape(r.key) + '"]');
    if (!box) { return; }
    var valueEl = box.querySelector("[data-value]");
    var shown = r.value === null ? "—" : r.value;
    if (valueEl.textContent !== shown) {
      valueEl.textContent = shown;
      var wrap = valueEl.parentNode;
      wrap.classList.add("changed");
      setTimeout(function () { wrap.classList.remove("changed"); }, 1200);
    }
    box.querySelector("[data-unit]").textContent = UNITS[r.unit] || r.unit || "";
    var when = box.querySelector("[data-ts]");
    var ts = Date.parse(r.ts);
    when.setAttribute("datetime", r.ts);
    when.textContent = new Date(ts).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    var number = parseFloat(r.value);
    var svg = box.querySelector("svg.chart");
    if (svg && r.quality === "good" && isFinite(number)) { plot(svg, ts, number); }
  }

  function onAlert(event) {
    var change = JSON.parse(event.data);
    var alert = change.alert || {};
    var item = alert.id ? document.querySelector('[data-alert-id="' + CSS.escape(alert.id) + '"]') : null;
    if (item) {
      var state = item.querySelector("[data-alert-state]");
      if (state) { state.textContent = alert.state; }
      say("Alert “" + (alert.title || "") + "” is now " + alert.state + ".");
    } else if (alert.state === "firing" || alert.state === "pending") {
      say("New alert: “" + (alert.title || "") + "”. Reload the page to see it.");
    }
  }

  var source = new EventSource(holder.dataset.liveUrl);
  source.addEventListener("open", function () { say("Live: values update as readings arrive."); });
  source.addEventListener("error", function () { say("Live updates interrupted; reconnecting…"); });
  source.addEventListener("reading", onReading);
  (holder.dataset.alertEvents || "").split(" ").forEach(function (name) {
    if (name) { source.addEventListener(name, onAlert); }
  });
  source.onmessage = function () {};
})();
