// The manual-steps evidence in a real browser: ticks with initials, remembered, exported as a
// JSON file; and the as-executed page, where there is nothing to tick. One JSON report on stdout.
//
//   node export-evidence.mjs RUNBOOK.html AS_OUT_DIR         ticks, reload, export
//   node export-evidence.mjs --view AS-EXECUTED.html OUT_DIR  the as-executed page
//
// A fresh profile, no network; the export must be a download made in the page.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const view = args[0] === "--view";
const [file, outDir] = view ? args.slice(1) : args;
if (!file || !outDir) {
  console.error("usage: node export-evidence.mjs [--view] PAGE.html OUT_DIR");
  process.exit(2);
}
const url = pathToFileURL(resolve(file)).href;
const profile = mkdtempSync(join(tmpdir(), "umrunbook-chromium-"));
const report = { console: [], pageErrors: [], requests: [] };

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

const records = (page) => page.evaluate(() =>
  Object.fromEntries(Array.from(document.querySelectorAll("input.tick[data-step]")).map((box) => {
    const record = box.closest("li").querySelector(".tick-record");
    return [box.dataset.step, { checked: box.checked, record: record && !record.hidden ? record.textContent : "" }];
  })));

try {
  context.on("request", (request) => {
    // The page itself is the one load expected; the export (a blob: the page made of its own
    // data) is no request at all.
    if (request.url().split("#")[0] !== url) report.requests.push(request.url());
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") report.console.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));
  await page.goto(url, { waitUntil: "load" });

  if (view) {
    report.title = await page.title();
    report.h1 = await page.locator("h1").textContent();
    report.inputs = await page.locator("main input").count();
    report.tools = await page.locator("#tools, #export, #initials, #reset").count();
    report.marks = await page.evaluate(() => {
      const count = {};
      document.querySelectorAll("main .mark").forEach((m) => {
        const kind = m.className.replace(/.*mark-/, "");
        count[kind] = (count[kind] || 0) + 1;
      });
      return count;
    });
    report.doneCards = await page.evaluate(() =>
      Array.from(document.querySelectorAll("section.step.is-done h3")).map((h) => h.textContent));
    // The snapshot step's records (the agent's and the ticked one), found by its title:
    // numbers follow the catalogue.
    report.snapshotRecords = await page.evaluate(() => {
      const card = Array.from(document.querySelectorAll("section.step")).find((c) => c.querySelector("h3").textContent.endsWith(": Take a snapshot of the appliance"));
      return card ? Array.from(card.querySelectorAll("li")).map((li) => li.textContent.trim()) : null;
    });
    report.axe = await axe(page);
    await page.locator("h3", { hasText: "Step 8:" }).scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(outDir, "as-executed-screen.png"), fullPage: false });
  } else {
    report.initialsLabel = await page.locator("#initials").evaluate((el) => el.labels[0].textContent.trim());
    report.exportName = await page.locator("#export").textContent();
    // Initials typed once, at the top; two steps ticked with them.
    await page.locator("#initials").fill("JO");
    await page.locator('input.tick[data-step="check-bundle"]').check();
    await page.locator('input.tick[data-step="snapshot"]').check();
    // Another person takes over: their initials go with their ticks only.
    await page.getByLabel("Your initials").fill("AB");
    await page.locator('input.tick[data-step="prerequisite:console"]').check();
    await page.locator('input.tick[data-step="certificate:vc01.corp.example"]').check();
    await page.locator('input.tick[data-step="enable-ssh"]').check();
    await page.locator('input.tick[data-step="enable-ssh"]').uncheck(); // ticked by mistake
    report.afterTick = await records(page);

    await page.reload({ waitUntil: "load" });
    report.afterReload = await records(page);
    report.initialsAfterReload = await page.locator("#initials").inputValue();
    report.axe = await axe(page);
    await page.locator('input.tick[data-step="snapshot"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(outDir, "ticked-screen.png"), fullPage: false });

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#export").click(),
    ]);
    report.filename = download.suggestedFilename();
    const saved = join(outDir, report.filename);
    await download.saveAs(saved);
    report.saved = saved;
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report) + "\n");
