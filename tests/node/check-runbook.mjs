// Opens an HTML runbook in the system's Chromium and reports what a person (and a screen
// reader) would meet, as one JSON object on stdout. The Python tests assert on it.
//
//   node check-runbook.mjs RUNBOOK.html OUT_DIR [INDEX.html]
//
// One browser launch: a fresh profile, no network, no first-run or background traffic.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [file, outDir, indexFile] = process.argv.slice(2);
if (!file || !outDir) {
  console.error("usage: node check-runbook.mjs RUNBOOK.html OUT_DIR");
  process.exit(2);
}
const url = pathToFileURL(resolve(file)).href;
const indexUrl = indexFile ? pathToFileURL(resolve(indexFile)).href : null;
const profile = mkdtempSync(join(tmpdir(), "umrunbook-chromium-"));
const report = { console: [], pageErrors: [], requests: [], dialogs: [] };

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
  ],
});
try {
  context.on("request", (request) => {
    // The page itself is the one load expected; anything else is a request it made.
    const bare = request.url().split("#")[0];
    if (bare !== url && bare !== indexUrl) report.requests.push(request.url());
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") {
      report.console.push(`${msg.type()}: ${msg.text()}`);
    }
  });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));
  page.on("dialog", async (dialog) => {
    report.dialogs.push(dialog.message());
    await dialog.accept();
  });
  await page.goto(url, { waitUntil: "load" });

  const boxes = page.locator("input.tick");
  report.boxes = await boxes.count();
  report.progressBefore = await page.locator("#progress-text").textContent();
  report.storageKey = await page.evaluate(() => document.body.dataset.storageKey);
  report.notesText = await page.evaluate(() => {
    const el = Array.from(document.querySelectorAll("main p")).find((p) => p.textContent.includes("alert(1)"));
    return el ? el.textContent : null;
  });
  report.scriptsInPage = await page.evaluate(() => document.scripts.length);

  // Tick the first box with the mouse on its label, the second with the keyboard.
  const firstId = await boxes.nth(0).getAttribute("id");
  const secondId = await boxes.nth(1).getAttribute("id");
  // Ids are record keys (`prerequisite:console`): a CSS id selector would need escaping.
  await page.locator(`label:has([id="${firstId}"])`).click();
  await boxes.nth(1).focus();
  await page.keyboard.press("Space");
  report.checkedAfterTick = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input.tick")).filter((b) => b.checked).map((b) => b.id));
  report.progressAfterTick = await page.locator("#progress-text").textContent();
  report.stored = await page.evaluate((key) => localStorage.getItem(key), report.storageKey);

  await page.reload({ waitUntil: "load" });
  report.checkedAfterReload = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input.tick")).filter((b) => b.checked).map((b) => b.id));
  report.progressAfterReload = await page.locator("#progress-text").textContent();
  report.expectedTicked = [firstId, secondId];

  // Keyboard: the first Tab reaches the skip link, which leads to the runbook.
  await page.keyboard.press("Tab");
  report.firstTabStop = await page.evaluate(() => document.activeElement.textContent.trim());
  await page.keyboard.press("Enter");
  report.afterSkip = await page.evaluate(() => location.hash);

  // Copy a command block.
  await context.grantPermissions(["clipboard-read", "clipboard-write"]).catch(() => {});
  const copy = page.locator(".code button.copy").first();
  report.copyName = await copy.evaluate((b) => b.textContent);
  await copy.click();
  await page.waitForFunction(() => document.querySelector(".code button.copy .copy-state").textContent !== "Copy", null, { timeout: 3000 }).catch(() => {});
  report.copyButtonText = await copy.locator(".copy-state").textContent();
  report.firstCommand = await page.locator(".code pre code").first().textContent();
  report.clipboard = await page.evaluate(() => navigator.clipboard.readText()).catch((e) => `unreadable: ${e}`);


  // Where badges and cards.
  report.steps = await page.evaluate(() =>
    Array.from(document.querySelectorAll("section.step")).map((card) => ({
      heading: card.querySelector("h3").textContent,
      where: (card.querySelector(".where") || { textContent: "" }).textContent,
      whereVisible: Boolean(card.querySelector(".where")) && card.querySelector(".where").getBoundingClientRect().width > 0,
    })));
  report.tocLinks = await page.locator(".toc a").count();

  await page.screenshot({ path: join(outDir, "runbook-screen.png"), fullPage: false });
  await page.locator("#step-6-check-both-files-on-the-appliance").scrollIntoViewIfNeeded().catch(() => {});
  await page.screenshot({ path: join(outDir, "runbook-steps.png"), fullPage: false });

  // Accessibility: axe-core, evaluated in the page (through the DevTools protocol, not a
  // script element, which the page's Content-Security-Policy rightly refuses).
  const axeSource = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");
  await page.evaluate(axeSource);
  const axe = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  report.axe = axe;

  // Print: no interactive chrome, checkboxes as empty boxes, step cards kept whole.
  await page.emulateMedia({ media: "print" });
  report.print = await page.evaluate(() => {
    const shown = (sel) => Array.from(document.querySelectorAll(sel)).some((el) => el.getClientRects().length > 0);
    const box = document.querySelector("input.tick:checked") || document.querySelector("input.tick");
    const style = getComputedStyle(box);
    return {
      tocShown: shown(".toc"),
      copyShown: shown("button.copy"),
      resetShown: shown("#reset"),
      barShown: shown(".bar"),
      tickedBoxAppearance: style.appearance,
      tickedBoxBorder: style.borderTopStyle,
      stepBreakInside: getComputedStyle(document.querySelector("section.step")).breakInside,
      signoffBreakInside: getComputedStyle(document.querySelector(".part-sign-off")).breakInside,
      qrShown: shown("figure.qr svg"),
    };
  });
  await page.pdf({ path: join(outDir, "runbook-print.pdf"), format: "A4", printBackground: true });
  await page.screenshot({ path: join(outDir, "runbook-print.png"), fullPage: false });

  // Reset: asks first, then clears every tick, here and in storage.
  await page.emulateMedia({ media: "screen" });
  report.dialogsBeforeReset = [...report.dialogs];
  await page.locator("#reset").click();
  report.checkedAfterReset = await page.locator("input.tick:checked").count();
  await page.reload({ waitUntil: "load" });
  report.checkedAfterResetReload = await page.locator("input.tick:checked").count();
  report.storedAfterReset = await page.evaluate((key) => localStorage.getItem(key), report.storageKey);

  // The fleet index: quiet, offline, accessible too.
  if (indexUrl) {
    await page.goto(indexUrl, { waitUntil: "load" });
    await page.evaluate(axeSource);
    report.indexAxe = await page.evaluate(async () => {
      const result = await window.axe.run(document, { resultTypes: ["violations"] });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
    });
    // The appliances table (the night plan has a table of its own below it).
    report.indexRows = await page.locator("table").first().locator("tbody tr").count();
    await page.screenshot({ path: join(outDir, "index-screen.png"), fullPage: true });
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report) + "\n");
