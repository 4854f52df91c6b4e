// UI test of the "QEMU" view in code-server (Playwright + Debian chromium): the VM State container
// shows the QEMU view with the demo QMP sockets from settings; clicking demo-vm connects and shows
// its facts and dbus-vmstate object; clicking that connects the D-Bus helpers view. Screenshots.
// Env (scripts/e2e-qemu.sh): CS_PORT, WS, OUT_DIR, THEME=light|dark, USER_SETTINGS, QMP, BUS.
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const { e2eEnv, openWorkbench, openVmStateContainer, runCommand, testRun } = require("./browser");

const { PORT, WS, OUT, THEME, SETTINGS } = e2eEnv("/tmp/e2e-qemu");
const QMP = process.env.QMP;

const run = testRun("qemu", { theme: THEME, out: OUT, settings: SETTINGS });
const { lap, check, shot, setTheme } = run;
let page;
(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  setTheme();
  // a long wait: slow on a loaded 2-core machine
  const { browser } = ({ page } = await openWorkbench(run, {
    port: PORT,
    folder: WS,
    viewport: { width: 1280, height: 800 },
    timeout: 120000,
  }));
  const sidebar = page.locator("#workbench\\.parts\\.sidebar");
  const pane = sidebar.locator(".pane", { has: page.locator(".pane-header", { hasText: /^QEMU/ }) });
  const rows = pane.locator(".monaco-list-row");
  const row = (text) => rows.filter({ hasText: text }).first();

  await check("the VM State container shows the QEMU view with the sockets from settings", async () => {
    await openVmStateContainer(page);
    await row(path.basename(QMP)).waitFor({ timeout: 30000 });
    await row("qmp-incoming.sock").waitFor({ timeout: 10000 });
    await page.mouse.move(900, 500);
    await page.waitForTimeout(400);
    await shot("idle-panel", sidebar);
  });

  await check("clicking demo-vm connects and shows its facts and dbus-vmstate object", async () => {
    await row(path.basename(QMP)).click();
    await row("demo-vm").waitFor({ timeout: 30000 });
    for (const label of ["QEMU", "Machine", "Run state", "Migration", "Migration capabilities", "dbus-vmstate dv0"]) {
      await rows
        .filter({ has: page.locator(".label-name", { hasText: new RegExp(`^${label}$`) }) })
        .first()
        .waitFor({ timeout: 10000 });
    }
    assert.match(await row("Machine").locator(".label-description").textContent(), /pc-q35-\d+\.\d+ \(q35\)/);
    assert.match(await row("Run state").locator(".label-description").textContent(), /prelaunch/);
    await page.mouse.move(900, 500);
    await page.waitForTimeout(600);
    await shot("connected");
    await shot("connected-panel", sidebar);
  });

  await check("clicking the dbus-vmstate object lists its helpers in the D-Bus helpers view", async () => {
    await row("dbus-vmstate dv0").click();
    const busRows = sidebar
      .locator(".pane", { has: page.locator(".pane-header", { hasText: /D-Bus helpers/ }) })
      .locator(".monaco-list-row");
    const busItem = busRows.filter({ hasText: "connected · 3 helpers" }).first();
    await busItem.waitFor({ timeout: 30000 });
    // the bus explorer's item can come up collapsed (its id is the same while connecting, when
    // it is not expandable, and VS Code keeps the first state); open it if so
    if ((await busItem.getAttribute("aria-expanded")) === "false") await busItem.click();
    for (const id of ["slirp-helper", "tpm-emu", "audio"])
      await busRows.filter({ hasText: id }).first().waitFor({ timeout: 30000 });
    await page.mouse.move(900, 500);
    await page.waitForTimeout(600);
    await shot("helpers-linked", sidebar);
  });

  await check("disconnect (QEMU's QMP socket takes one client: leave it free for the next run)", async () => {
    await runCommand(page, "QEMU VM State: Disconnect from QEMU");
    await row("not connected").waitFor({ timeout: 10000 });
  });

  await browser.close();
  lap("PASS");
  process.exit(0);
})().catch((e) =>
  run.fail(`QEMU UI (${THEME})`, e, path.join(OUT, `qemu-${THEME}-failure.png`), (p) =>
    runCommand(p, "QEMU VM State: Disconnect from QEMU", { timeout: 5000 }),
  ),
);
