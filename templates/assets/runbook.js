// The runbook page's only script: remembered tick boxes (in this browser, keyed by change
// ticket and appliance), each with the time it was ticked and the initials typed at the top;
// the ticks exported as a JSON file for `umrunbook ingest`; copy buttons. It makes no request
// of any kind: the export is a file made in the page and saved by the browser.
(function () {
  "use strict";
  var body = document.body;
  var key = body.getAttribute("data-storage-key") || "umrunbook";
  var initialsKey = "umrunbook:initials"; // the same person ticks many runbooks
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.tick"));
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
    span.textContent = "ticked" + (at ? " " + at : "") + (e.by ? " by " + e.by : " (no initials)");
    span.hidden = false;
  }

  function refresh() {
    var ticked = 0;
    boxes.forEach(function (box) {
      if (box.checked) ticked += 1;
      showRecord(box);
    });
    if (progressText) progressText.textContent = ticked + " of " + boxes.length + " ticked";
    if (fill) fill.style.width = (boxes.length ? (100 * ticked) / boxes.length : 0) + "%";
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
  refresh();

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
