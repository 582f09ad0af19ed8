// The runbook page's only script: remembered tick boxes (in this browser, keyed by change
// ticket and appliance) and copy buttons. It makes no request of any kind.
(function () {
  "use strict";
  var key = document.body.getAttribute("data-storage-key") || "umrunbook";
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

  var state = load();
  var progressText = document.getElementById("progress-text");
  var fill = document.getElementById("meter-fill");

  function refresh() {
    var ticked = 0;
    boxes.forEach(function (box) { if (box.checked) ticked += 1; });
    if (progressText) progressText.textContent = ticked + " of " + boxes.length + " ticked";
    if (fill) fill.style.width = (boxes.length ? (100 * ticked) / boxes.length : 0) + "%";
    document.querySelectorAll("section.step").forEach(function (card) {
      var own = card.querySelectorAll("input.tick");
      var done = own.length > 0 && Array.prototype.every.call(own, function (b) { return b.checked; });
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
      if (box.checked) state[box.id] = new Date().toISOString();
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
