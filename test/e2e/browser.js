// Shared Playwright helpers: Debian chromium via playwright-core, and the code-server workbench.
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

exports.launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });

/** What scripts/e2e*.sh give a Playwright test: CS_PORT, WS, OUT_DIR, THEME, USER_SETTINGS. */
exports.e2eEnv = (defaultOut) => {
  const WS = process.env.WS;
  return {
    PORT: process.env.CS_PORT,
    WS,
    OUT: process.env.OUT_DIR || defaultOut,
    THEME: process.env.THEME || "dark",
    SETTINGS: process.env.USER_SETTINGS || path.join(WS, "..", "user", "User", "settings.json"),
    ROOT: path.resolve(__dirname, "../.."),
  };
};

exports.workbenchUrl = (port, folder) => `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`;

/**
 * Launches chromium, opens the code-server workbench on FOLDER and waits until it shows; sets
 * run.page. cspErrors collects the console's Content-Security-Policy complaints (for a last check).
 */
exports.openWorkbench = async (run, { port, folder, viewport, timeout = 60000 }) => {
  const browser = await exports.launch();
  const page = (run.page = await browser.newPage({ viewport }));
  const cspErrors = [];
  page.on("console", (m) => {
    if (/Content.Security.Policy|Refused to|CSP violation/i.test(m.text())) cspErrors.push(m.text().slice(0, 300));
  });
  await page.goto(exports.workbenchUrl(port, folder));
  await page.locator(".monaco-workbench").waitFor({ timeout });
  run.lap("workbench loaded");
  return { browser, page, cspErrors };
};

/** Opens the VM State container from the activity bar (on a fresh window the extension registers it a little after the workbench shows). */
exports.openVmStateContainer = async (page, { timeout = 60000 } = {}) => {
  const deadline = Date.now() + timeout;
  for (;;) {
    const icon = page
      .locator(
        '.activitybar .action-item a[aria-label^="VM State"], .activitybar .action-item .action-label[aria-label^="VM State"]',
      )
      .first();
    if (await icon.isVisible().catch(() => false)) {
      await icon.click();
      return;
    }
    if (Date.now() > deadline) throw new Error("no VM State icon in the activity bar");
    await page.waitForTimeout(500);
  }
};

/** Runs a command through the command palette (F1), waiting until it is listed. */
exports.runCommand = async (page, label, { timeout = 30000 } = {}) => {
  const t0 = Date.now();
  for (;;) {
    await page.keyboard.press("F1");
    const qi = page.locator(".quick-input-widget input");
    await qi.waitFor();
    await qi.fill(">" + label);
    const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
    if (
      await row.waitFor({ timeout: 2000 }).then(
        () => true,
        () => false,
      )
    ) {
      await row.click();
      return;
    }
    await page.keyboard.press("Escape");
    if (Date.now() - t0 > timeout) throw new Error(`command not found: ${label}`);
  }
};

/**
 * Opens a stream in our custom editor. On a fresh profile the explorer lists files before the
 * extension host has registered our editor, and the file then opens as "binary" text: close and retry.
 */
exports.openStream = async (page, name, { timeout = 90000 } = {}) => {
  const t0 = Date.now();
  for (;;) {
    await exports.quickOpen(page, name);
    const tab = page.locator(".tabs-container .tab.active", { hasText: name });
    await tab.waitFor({ timeout: 15000 });
    const got = await Promise.race([
      page
        .locator("iframe.webview.ready")
        .first()
        .waitFor({ timeout: 20000 })
        .then(() => "webview"),
      page
        .getByText(/binary|unsupported text encoding/i)
        .first()
        .waitFor({ timeout: 20000 })
        .then(() => "text"),
    ]).catch(() => "none");
    if (got === "webview") return;
    if (Date.now() - t0 > timeout) throw new Error(`${name} never opened in the custom editor (${got})`);
    await page.keyboard.press("Control+W").catch(() => {});
    await page.waitForTimeout(1000);
  }
};

/** The custom editor's webview: outer iframe (class webview) -> inner iframe #active-frame. */
exports.webview = (page) => page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");

/** Opens a workspace file by path through Quick Open (Ctrl+P). */
exports.quickOpen = async (page, name) => {
  await page.keyboard.press("Control+P");
  const qi = page.locator(".quick-input-widget input");
  await qi.waitFor();
  await qi.fill(name);
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first();
  await row.waitFor({ timeout: 15000 });
  await page.keyboard.press("Enter");
};

/**
 * What every Playwright test here keeps: timed log lines, named checks (a failure names the check
 * it was in: run.step), screenshots named TAG-THEME-NAME.png in OUT, and the workbench colour theme
 * written into the user settings. Set run.page once the page exists.
 */
exports.testRun = (tag, { theme, out, settings }) => {
  const t0 = Date.now();
  const run = { step: "start", checks: [], page: undefined };
  run.lap = (m) => console.log(`  [${tag ? `${tag} ` : ""}${theme} ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
  run.check = async (name, fn) => {
    run.step = name;
    await fn();
    run.checks.push(name);
    run.lap(`ok - ${name}`);
  };
  run.shot = async (name, locator) => {
    const file = path.join(out, `${tag}-${theme}-${name}.png`);
    await (locator ?? run.page).screenshot({ path: file });
    run.lap(`screenshot ${file}`);
  };
  /** A failed run: the message names the check it was in; a screenshot FILE; then `cleanup(page)`; exit status 1. */
  run.fail = async (label, e, file, cleanup) => {
    console.error(`${label} FAILED at "${run.step}":`, e);
    if (run.page) await run.page.screenshot({ path: file }).catch(() => {});
    if (run.page && cleanup) await cleanup(run.page).catch(() => {});
    process.exit(1);
  };
  run.setTheme = (t = theme) => {
    const s = JSON.parse(fs.readFileSync(settings, "utf8"));
    s["workbench.colorTheme"] =
      t === "light" ? "Default Light Modern" : t === "hc" ? "Default High Contrast" : "Default Dark Modern";
    fs.writeFileSync(settings, JSON.stringify(s, null, 2));
  };
  return run;
};
