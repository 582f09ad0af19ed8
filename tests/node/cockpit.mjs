// The HTML runbook as the night's cockpit, in the system's Chromium: every box of the planned
// path ticked in order on a clock the test holds (each step taking its estimate), what the bar
// and the page show after each tick, a backout box ticked and cleared on the way, a reload,
// and the export. One JSON report on stdout; the Python test asserts on it.
//
//   node cockpit.mjs RUNBOOK.html OUT_DIR START_ISO CHECKPOINT_INITIALS
//
// A fresh profile, no network; the time is Playwright's clock, installed before the page loads
// and set, before each tick, to the start plus the estimates of the steps done so far.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [file, outDir, start, checkpointInitials] = process.argv.slice(2);
if (!file || !outDir || !start || !checkpointInitials) {
  console.error("usage: node cockpit.mjs RUNBOOK.html OUT_DIR START_ISO CHECKPOINT_INITIALS");
  process.exit(2);
}
const url = pathToFileURL(resolve(file)).href;
const profile = mkdtempSync(join(tmpdir(), "umrunbook-chromium-"));
const report = { console: [], pageErrors: [], requests: [], ticks: [] };

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
  ],
});

async function axe(page) {
  // Through the DevTools protocol: the page's Content-Security-Policy refuses a script element.
  await page.evaluate(readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8"));
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
}

// What a person sees of the night: the highlighted step, the bar's words.
const seen = (page) => page.evaluate(() => {
  const current = Array.from(document.querySelectorAll(".is-current"));
  const box = current.length ? current[0].querySelector("input.tick") : null;
  const outline = current.length ? getComputedStyle(current[0]).outlineStyle : "";
  return {
    current: current.length,
    currentBox: box ? box.id : null,
    outline,
    tocCurrent: Array.from(document.querySelectorAll('.toc a[aria-current="step"]')).map((a) => a.getAttribute("href")),
    now: document.getElementById("now-link").textContent,
    nowHref: document.getElementById("now-link").getAttribute("href"),
    elapsed: document.getElementById("elapsed").textContent,
    progress: document.getElementById("progress-text").textContent,
    meter: document.getElementById("meter-fill").style.width,
  };
});

const tick = (page, id) => page.locator(`input.tick[id="${id}"]`).check();

try {
  context.on("request", (request) => {
    if (request.url().split("#")[0] !== url) report.requests.push(request.url());
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") report.console.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));
  await page.clock.install({ time: new Date(start) });
  await page.goto(url, { waitUntil: "load" });

  const boxes = await page.evaluate(() => Array.from(document.querySelectorAll("input.tick")).map((b) => ({
    id: b.id,
    step: b.dataset.step,
    planned: b.hasAttribute("data-planned"),
    minutes: b.hasAttribute("data-minutes") ? Number(b.dataset.minutes) : null,
    checkpoint: b.hasAttribute("data-checkpoint"),
  })));
  report.boxes = boxes;
  report.before = await seen(page);
  report.nightShown = await page.locator("#night").isVisible();

  await page.locator("#initials").fill("JO");
  const planned = boxes.filter((b) => b.planned);
  const backout = boxes.find((b) => !b.planned && b.step.startsWith("backout:"));
  let timed = false;
  let minutes = 0;
  for (const [n, box] of planned.entries()) {
    // Each step in the window takes its estimate; the first one starts the clock.
    if (box.minutes !== null && timed) minutes += box.minutes;
    if (box.minutes !== null) timed = true;
    await page.clock.setSystemTime(new Date(Date.parse(start) + minutes * 60000));
    if (box.checkpoint) await page.locator("#initials").fill(checkpointInitials);
    await tick(page, box.id);
    if (box.checkpoint) {
      report.checkpointRecord = await page.locator(`input.tick[id="${box.id}"]`).evaluate(
        (b) => b.closest("li").querySelector(".tick-record").textContent);
      report.checkpointTag = await page.locator(`input.tick[id="${box.id}"]`).evaluate(
        (b) => b.closest("section.step").querySelector("h3 + p.checkpoint-note").textContent);
      await page.locator("#initials").fill("JO");
    }
    report.ticks.push({ id: box.id, ...(await seen(page)) });
    if (n === Math.floor(planned.length / 2)) {
      // Halfway: a look at the page, axe, a backout box ticked and cleared (it counts nothing),
      // and a reload (the night's place is remembered).
      await page.locator(".is-current").first().scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(outDir, "cockpit-screen.png"), fullPage: false });
      report.axeHalfway = await axe(page);
      await tick(page, backout.id);
      report.withBackout = await seen(page);
      await page.locator(`input.tick[id="${backout.id}"]`).uncheck();
      await page.reload({ waitUntil: "load" });
      report.afterReload = await seen(page);
      // Ten minutes on the current step: the page's own timer moves the elapsed time on.
      await page.clock.fastForward(10 * 60000);
      report.tenMinutesLater = await seen(page);
    }
  }
  report.done = await seen(page);
  await page.clock.fastForward(20 * 60000);
  report.doneLater = await seen(page);
  report.unplannedChecked = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input.tick:not([data-planned])")).filter((b) => b.checked).length);
  report.axeDone = await axe(page);

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator("#export").click(),
  ]);
  report.saved = join(outDir, download.suggestedFilename());
  await download.saveAs(report.saved);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report) + "\n");
