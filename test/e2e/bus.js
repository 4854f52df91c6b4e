// UI test of the "D-Bus helpers" view in code-server (Playwright + Debian chromium): open the VM
// State view, connect to the private bus from settings, see the helpers, Check them; screenshots.
// Env (scripts/e2e-bus.sh): CS_PORT, WS, OUT_DIR, THEME=light|dark|hc, USER_SETTINGS, BUS_INFO.
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const { e2eEnv, openWorkbench, openVmStateContainer, runCommand, testRun } = require("./browser");

const { PORT, WS, OUT, THEME, SETTINGS } = e2eEnv("/tmp/e2e-bus");
const INFO = JSON.parse(fs.readFileSync(process.env.BUS_INFO, "utf8"));
const IDS = INFO.helpers.map((h) => h.id);

const run = testRun("bus", { theme: THEME, out: OUT, settings: SETTINGS });
const { lap, check, shot, setTheme } = run;
let page;
(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  setTheme(THEME);
  let browser;
  ({ browser, page } = await openWorkbench(run, { port: PORT, folder: WS, viewport: { width: 1280, height: 760 } }));
  const sidebar = page.locator("#workbench\\.parts\\.sidebar");
  const rows = sidebar.locator(".monaco-list-row");
  const row = (text) => rows.filter({ hasText: text }).first();

  await check("the VM State view opens with the address from settings", async () => {
    await openVmStateContainer(page);
    // alone in its container the view's pane header is hidden and the title bar names it; next to
    // the QEMU view it has its own pane header
    await sidebar
      .locator(".composite.title, .pane-header", { hasText: /D-Bus helpers/i })
      .first()
      .waitFor({ timeout: 30000 });
    await row(path.basename(INFO.address)).waitFor({ timeout: 30000 });
    await shot("disconnected", sidebar);
  });

  await check("clicking the address connects and lists the helpers by Id", async () => {
    await row(path.basename(INFO.address)).click();
    for (const id of IDS)
      await rows
        .filter({ has: page.locator(".label-name", { hasText: new RegExp(`^${id}$`) }) })
        .first()
        .waitFor({ timeout: 30000 });
    const names = await sidebar.locator(".monaco-list-row .label-name").allTextContents();
    for (const id of IDS) assert.ok(names.includes(id), `${id} not visible: ${names.join(", ")}`);
    const desc = await row("vm-good").locator(".label-description").textContent();
    assert.match(desc, new RegExp(`${INFO.helpers[0].unique_name.replace(/\./g, "\\.")} · primary`));
    await page.mouse.move(900, 500); // no hover
    await page.waitForTimeout(500);
    await shot("helpers");
    await shot("helpers-panel", sidebar);
  });

  await check("hovering a helper shows its tooltip", async () => {
    await row("gd-good").locator(".label-name").hover();
    const hover = page.locator(".monaco-hover, .workbench-hover").filter({ hasText: "Unique name" }).first();
    await hover.waitFor({ timeout: 10000 });
    assert.match(await hover.textContent(), /Id: "gd-good"/);
    await shot("tooltip");
    await page.mouse.move(900, 500);
  });

  await check("Check Helpers marks the empty helper, its failing rule listed", async () => {
    const btn = sidebar.locator('.actions-container .action-label[aria-label="Check Helpers"]').first();
    if (await btn.isVisible().catch(() => false)) await btn.click();
    else await runCommand(page, "QEMU VM State: Check Helpers");
    await row("vm-empty").filter({ hasText: "1 check fails" }).waitFor({ timeout: 30000 });
    await row("vm-empty").click(); // expand
    await row("Not empty").waitFor({ timeout: 10000 });
    await page.mouse.move(900, 500);
    await page.waitForTimeout(500);
    await shot("check");
    await shot("check-panel", sidebar);
  });

  await check("disconnect from the view's title", async () => {
    await sidebar.locator('.actions-container .action-label[aria-label="Disconnect from Bus"]').first().click();
    await sidebar.locator(".pane-header", { hasText: "not connected" }).waitFor({ state: "attached", timeout: 10000 });
    await rows.filter({ hasText: "vm-good" }).waitFor({ state: "detached", timeout: 10000 });
  });

  await browser.close();
  lap("PASS");
  process.exit(0);
})().catch((e) => run.fail(`bus UI (${THEME})`, e, path.join(OUT, `bus-${THEME}-failure.png`)));
