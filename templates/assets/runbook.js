// The runbook page's only script: remembered tick boxes (in this browser, keyed by change
// ticket and appliance), each with the time it was ticked and the initials typed at the top;
// the ticks exported as a JSON file for `umrunbook ingest`; copy buttons; and the night's
// cockpit: the current step (the first box of the planned path not yet ticked) highlighted,
// the progress of the planned path alone (not the backout, not the clean-up after the
// change), and the time elapsed since the first tick in the window beside the minutes the
// plan gives from there to the current step. What is on the planned path, and each box's
// estimate, come with the boxes (data-planned, data-minutes): nothing here works them out.
// It makes no request of any kind: the export is a file made in the page and saved by the
// browser.
(function () {
  "use strict";
  var body = document.body;
  var key = body.getAttribute("data-storage-key") || "umrunbook";
  var initialsKey = "umrunbook:initials"; // the same person ticks many runbooks
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.tick"));
  var planned = boxes.filter(function (box) { return box.hasAttribute("data-planned"); });
  var store = null;
  try {
    store = window.localStorage;
    store.getItem(key);
  } catch (e) {
    store = null; // storage blocked: ticks still work, they are just not remembered
  }

  function load() {
    if (!store) return {};
    try {
      var value = JSON.parse(store.getItem(key) || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (e) {
      return {};
    }
  }

  function save(state) {
    if (!store) return;
    try {
      if (Object.keys(state).length) store.setItem(key, JSON.stringify(state));
      else store.removeItem(key);
    } catch (e) {
      // full or blocked: nothing to do, the paper copy is the record
    }
  }

  // UTC, ISO 8601, to the second: as the agent writes its times.
  function now() {
    return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  // A tick: when, and by whom. (Older pages kept the time alone.)
  function entry(value) {
    if (typeof value === "string") return { at: value, by: "" };
    if (value && typeof value === "object") return { at: String(value.at || ""), by: String(value.by || "") };
    return null;
  }

  var state = load();
  var progressText = document.getElementById("progress-text");
  var fill = document.getElementById("meter-fill");
  var initialsField = document.getElementById("initials");

  if (initialsField) {
    try { initialsField.value = (store && store.getItem(initialsKey)) || ""; } catch (e) { /* blocked */ }
    initialsField.addEventListener("input", function () {
      if (!store) return;
      try {
        var value = initialsField.value.trim();
        if (value) store.setItem(initialsKey, value);
        else store.removeItem(initialsKey);
      } catch (e) {
        // full or blocked: the field still works for this visit
      }
    });
  }

  function initials() {
    return initialsField ? initialsField.value.trim() : "";
  }

  // Beside each box: when it was ticked, and by whom.
  function recordOf(box) {
    var item = box.closest("li") || box.parentNode;
    var span = item.querySelector(".tick-record");
    if (!span) {
      span = document.createElement("span");
      span.className = "tick-record";
      item.appendChild(span);
    }
    return span;
  }

  function showRecord(box) {
    var span = recordOf(box);
    var e = box.checked ? entry(state[box.id]) : null;
    if (!e) {
      span.textContent = "";
      span.hidden = true;
      return;
    }
    var at = e.at ? e.at.replace("T", " ").replace(/:\d{2}Z$/, " UTC").replace(/Z$/, " UTC") : "";
    var what = box.hasAttribute("data-checkpoint") ? "ticked for GO" : "ticked";
    span.textContent = what + (at ? " " + at : "") + (e.by ? " by " + e.by : " (no initials)");
    span.hidden = false;
  }

  var nowLink = document.getElementById("now-link");
  var toc = document.querySelector("nav.toc");
  var elapsedText = document.getElementById("elapsed");

  // The first box of the planned path not yet ticked: the step the night is at.
  function currentBox() {
    for (var i = 0; i < planned.length; i += 1) if (!planned[i].checked) return planned[i];
    return null;
  }

  function tocLink(id) {
    return id ? document.querySelector('.toc a[href="#' + id + '"]') : null;
  }

  // Where a box stands: its step's card, or (a line of a list) its line, its part's heading.
  function placeOf(box) {
    var card = box.closest("section.step");
    var heading = card ? card.querySelector("h3[id]") : null;
    if (!heading) {
      var part = box.closest("section.part");
      heading = part ? part.querySelector("h2[id]") : null;
    }
    var link = tocLink(heading && heading.id);
    var name = link ? (link.querySelector(".toc-text") || link).textContent.trim() : "";
    if (!card) name = (name ? name + ": " : "") + (box.getAttribute("data-title") || "");
    return { element: card || box.closest("li") || box.parentNode, heading: heading, link: link, name: name };
  }

  function showCurrent(current) {
    document.querySelectorAll(".is-current").forEach(function (el) {
      el.classList.remove("is-current");
      el.removeAttribute("aria-current");
    });
    document.querySelectorAll('.toc a[aria-current="step"]').forEach(function (a) {
      a.removeAttribute("aria-current");
    });
    if (!nowLink) return;
    if (!current) {
      nowLink.textContent = "every step of the plan is ticked";
      nowLink.setAttribute("href", "#main");
      return;
    }
    var place = placeOf(current);
    place.element.classList.add("is-current");
    place.element.setAttribute("aria-current", "step");
    if (place.link) {
      place.link.setAttribute("aria-current", "step");
      keepInView(place.link);
    }
    nowLink.textContent = place.name;
    nowLink.setAttribute("href", "#" + (place.heading ? place.heading.id : "main"));
  }

  // The contents scroll on their own: the current step's entry is kept in sight there.
  function keepInView(link) {
    if (!toc || toc.scrollHeight <= toc.clientHeight) return;
    var at = link.getBoundingClientRect();
    var box = toc.getBoundingClientRect();
    if (at.top < box.top || at.bottom > box.bottom) toc.scrollTop += at.top - box.top - box.height / 3;
  }

  function duration(minutes) {
    if (minutes < 60) return minutes + " min";
    var m = minutes % 60;
    return Math.floor(minutes / 60) + " h " + (m < 10 ? "0" : "") + m + " min";
  }

  function clockTime(ms) {
    return new Date(ms).toISOString().slice(11, 16) + " UTC";
  }

  // Elapsed since the first tick in the window (a box with an estimate: what is checked
  // before the window does not start the clock), beside the plan's minutes from that step to
  // the current one: the estimates of the steps after the first ticked, before the current.
  function showClock() {
    if (!elapsedText) return;
    var first = null;
    var firstAt = 0;
    var lastAt = 0;
    planned.forEach(function (box) {
      if (!box.checked || !box.hasAttribute("data-minutes")) return;
      var e = entry(state[box.id]);
      var at = e && e.at ? Date.parse(e.at) : NaN;
      if (isNaN(at)) return;
      if (first === null || at < firstAt) { first = box; firstAt = at; }
      if (at > lastAt) lastAt = at;
    });
    if (first === null) {
      elapsedText.textContent = "The clock starts at the first tick in the window.";
      return;
    }
    var current = currentBox();
    var minutes = 0;
    var after = false;
    for (var i = 0; i < planned.length && planned[i] !== current; i += 1) {
      var box = planned[i];
      if (after && box.hasAttribute("data-minutes")) minutes += Number(box.getAttribute("data-minutes")) || 0;
      if (box === first) after = true;
    }
    // Once the plan is done, the clock stops at its last tick.
    var end = current ? Date.now() : Math.max(lastAt, firstAt);
    var elapsed = Math.max(0, Math.floor((end - firstAt) / 60000));
    elapsedText.textContent = "Elapsed " + duration(elapsed) + " since the first tick in the window (" +
      clockTime(firstAt) + "); planned " + duration(minutes) + (current ? " to the current step." : " to the end.");
  }

  function refresh() {
    var ticked = 0;
    boxes.forEach(function (box) {
      if (box.checked && box.hasAttribute("data-planned")) ticked += 1;
      showRecord(box);
    });
    var share = planned.length ? Math.floor((100 * ticked) / planned.length) : 0;
    if (progressText) progressText.textContent = ticked + " of " + planned.length + " ticked, " + share + " %";
    if (fill) fill.style.width = (planned.length ? (100 * ticked) / planned.length : 0) + "%";
    showCurrent(currentBox());
    showClock();
    document.querySelectorAll("section.step").forEach(function (card) {
      var own = card.querySelectorAll("input.tick");
      if (!own.length) return; // the as-executed page: the card says what the records say
      var done = Array.prototype.every.call(own, function (b) { return b.checked; });
      card.classList.toggle("is-done", done);
      var heading = card.querySelector("h3[id]");
      if (heading) {
        var link = document.querySelector('.toc a[href="#' + heading.id + '"]');
        if (link) link.classList.toggle("done", done);
      }
    });
  }

  boxes.forEach(function (box) {
    box.checked = Boolean(state[box.id]);
    box.addEventListener("change", function () {
      if (box.checked) state[box.id] = { at: now(), by: initials() };
      else delete state[box.id];
      save(state);
      refresh();
    });
  });

  var reset = document.getElementById("reset");
  if (reset) {
    reset.addEventListener("click", function () {
      if (!window.confirm("Clear every tick of this runbook in this browser?")) return;
      state = {};
      save(state);
      boxes.forEach(function (box) { box.checked = false; });
      refresh();
    });
  }
  // The ticks as the manual-steps evidence `umrunbook ingest` reads, saved as a file.
  function evidence() {
    var steps = [];
    boxes.forEach(function (box) {
      var id = box.getAttribute("data-step");
      if (!id) return;
      var e = box.checked ? entry(state[box.id]) : null;
      steps.push({
        id: id,
        number: box.getAttribute("data-number") || "",
        title: box.getAttribute("data-title") || "",
        checked: box.checked,
        at: e ? e.at : "",
        initials: e ? e.by : "",
      });
    });
    return {
      schema: "umrunbook-manual-steps/1",
      ticket: body.getAttribute("data-ticket") || "",
      appliance: body.getAttribute("data-appliance") || "",
      exported_at: now(),
      generator: body.getAttribute("data-generator") || "",
      steps: steps,
    };
  }

  function safe(text) {
    return String(text).replace(/[^A-Za-z0-9._-]+/g, "-");
  }

  var exportButton = document.getElementById("export");
  if (exportButton) {
    exportButton.addEventListener("click", function () {
      var doc = evidence();
      var blob = new Blob([JSON.stringify(doc, null, 2) + "\n"], { type: "application/json" });
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "manual-" + safe(doc.appliance) + "-" + safe(doc.ticket) + ".json";
      link.hidden = true;
      body.appendChild(link);
      link.click();
      body.removeChild(link);
      window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
    });
  }

  var tools = document.getElementById("tools");
  if (tools) tools.hidden = false;
  var night = document.getElementById("night");
  if (night) {
    night.hidden = false;
    window.setInterval(showClock, 15000);
  }
  // The bar is as tall as its lines: what a link leads to, and the contents, stand below it.
  var bar = document.querySelector("header.bar");
  function clearBar() {
    if (!bar) return;
    var height = bar.getBoundingClientRect().height;
    document.documentElement.style.scrollPaddingTop = Math.ceil(height + 12) + "px";
    if (toc) {
      toc.style.top = Math.ceil(height + 12) + "px";
      toc.style.maxHeight = "calc(100vh - " + Math.ceil(height + 36) + "px)";
    }
  }
  window.addEventListener("resize", clearBar);
  refresh();
  clearBar();

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.querySelectorAll(".code").forEach(function (block) {
    var button = block.querySelector("button.copy");
    var code = block.querySelector("pre code");
    if (!button || !code) return;
    var stateText = button.querySelector(".copy-state") || button;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(code.textContent.replace(/\n$/, "")).then(
        function () { stateText.textContent = "Copied"; },
        function () { stateText.textContent = "Select and copy by hand"; }
      );
      window.setTimeout(function () { stateText.textContent = "Copy"; }, 2000);
    });
  });
})();
