// UI end-to-end test of the custom editor in code-server, driven by Playwright + Debian chromium.
// Env: CS_PORT, WS (workspace with the samples), OUT_DIR (screenshots), THEME=light|dark,
// and the user settings file is the code-server one under WS/../user (scripts/e2e.sh).
const assert = require("assert");
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { e2eEnv, openWorkbench, openStream, webview, quickOpen, testRun } = require("./browser");

const { PORT, WS, OUT, THEME, SETTINGS, ROOT } = e2eEnv(".");
const HELPERS = JSON.parse(
  fs.readFileSync(path.join(ROOT, "test/fixtures/dbus-vmstate-3helpers.vmstate.helpers.json"), "utf8"),
).helpers;
const STREAM = fs.readFileSync(path.join(WS, "dbus-vmstate-3helpers.vmstate"));

const sha256 = (b) => crypto.createHash("sha256").update(b).digest("hex");
const run = testRun("", { theme: THEME, out: OUT, settings: SETTINGS });
const { lap, check, shot, setTheme } = run;
let page;
/** Offsets [min, max] of the highlighted bytes currently rendered in the hex view. */
async function highlighted(wv) {
  return wv.locator(".hex-bytes .hb.sel").evaluateAll((els) => els.map((e) => Number(e.dataset.o)));
}

(async () => {
  setTheme(THEME);
  // the edit test works on its own copy (the other checks and the other theme's run read the original)
  const EDIT_NAME = `edit-${THEME}.vmstate`;
  fs.copyFileSync(path.join(WS, "dbus-vmstate-3helpers.vmstate"), path.join(WS, EDIT_NAME));
  const { browser, cspErrors } = ({ page } = await openWorkbench(run, {
    port: PORT,
    folder: WS,
    viewport: { width: 1680, height: 1000 },
  }));
  // Make room: hide the primary side bar so the editor is wide.
  await openStream(page, "dbus-vmstate-3helpers.vmstate");
  const wv = webview(page);
  const tOpen = Date.now();
  await wv.locator("body[data-loaded=true]").waitFor({ timeout: 30000 });
  const marks = await wv.locator("body").evaluate((b) => ({ ...b.dataset }));
  lap(`editor ready (${Date.now() - tOpen} ms after the webview frame; in-frame marks ${JSON.stringify(marks)})`);
  await page.keyboard.press("Control+B"); // close the side bar for a wider editor
  await page.waitForTimeout(300);

  await check("the tree lists the stream's sections", async () => {
    const names = await wv.locator(".tree-row .name").allTextContents();
    assert.ok(names.includes("header") && names.includes("configuration"), names.join(","));
    assert.ok(names.includes("dbus-vmstate/dbus-vmstate"), names.join(","));
    assert.match(await wv.locator("#diag-summary").textContent(), /No problems/);
  });

  await check("selecting the dbus-vmstate section highlights its bytes", async () => {
    const row = wv.locator('.tree-row[data-kind="section"]', { hasText: "dbus-vmstate/dbus-vmstate" });
    await row.click();
    await wv.locator(".details-name", { hasText: "dbus-vmstate/dbus-vmstate" }).waitFor();
    const title = await row.getAttribute("title");
    const start = parseInt(/offset 0x([0-9a-f]+)/.exec(title)[1], 16);
    await wv.locator(`.hb.sel[data-o="${start}"]`).waitFor({ timeout: 5000 });
    const hl = await highlighted(wv);
    assert.equal(Math.min(...hl), start, "highlight starts at the section's first byte");
    const rowText = await wv.locator(`.hex-row:has(.hb[data-o="${start}"])`).textContent();
    assert.equal(
      await wv.locator(`.hb.sel[data-o="${start}"]`).textContent(),
      STREAM[start].toString(16).toUpperCase().padStart(2, "0"),
      `start ${start} (${title}); row: ${rowText}; file: ${STREAM.subarray(start - (start % 16), start - (start % 16) + 16).toString("hex")}`,
    );
  });

  const helper = HELPERS.find((h) => h.id === "slirp-helper");
  await check("picking a helper shows its checks, preview and bytes", async () => {
    const row = wv.locator(`.helper-row[data-id="${helper.id}"]`);
    await row.click();
    await wv.locator(`.helper-row.selected[data-id="${helper.id}"]`).waitFor();
    assert.match(await row.locator(".check").first().textContent(), /ok/);
    assert.equal((await row.locator(".sha").getAttribute("title")).replace("sha256 ", ""), helper.payload_sha256);
    // the tree follows: the helper node is selected
    await wv.locator('.tree-row.selected[data-kind="helper"]', { hasText: helper.id }).waitFor();
    // its text preview
    const preview = wv.locator("#blob-preview");
    await preview.filter({ hasText: "slirp-helper state v1" }).waitFor();
    // and the hex view shows its bytes
    const blob = Buffer.from(helper.payload_base64, "base64");
    const at = STREAM.indexOf(blob);
    await wv.locator(`.hb.sel[data-o="${at}"]`).waitFor({ timeout: 5000 });
    const shown = await wv
      .locator(".hb.sel")
      .evaluateAll((els) => els.map((e) => [Number(e.dataset.o), e.textContent]));
    for (const [o, t] of shown) assert.equal(t, STREAM[o].toString(16).toUpperCase().padStart(2, "0"), `byte at ${o}`);
    assert.ok(
      shown.some(([o]) => o === at + 8),
      "blob bytes highlighted",
    );
  });
  await page.screenshot({ path: path.join(OUT, `editor-helpers-${THEME}.png`) });

  await check("Export blob… writes the helper's bytes", async () => {
    const target = path.join(OUT, `exported-${THEME}-${helper.id}.bin`);
    fs.rmSync(target, { force: true });
    await wv.locator("#export-blob").click();
    // code-server's save dialog is the simple (quick input) dialog: type the full path.
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ timeout: 15000 });
    // It fills in the default path asynchronously: wait for it, or it overwrites what we type.
    const t1 = Date.now();
    while (!/slirp-helper\.bin$/.test(await input.inputValue()) && Date.now() - t1 < 10000)
      await page.waitForTimeout(100);
    await input.fill(target);
    // The simple dialog validates the typed path asynchronously; accept once it has settled.
    await page.waitForTimeout(700);
    await page.keyboard.press("Enter");
    const t = Date.now();
    for (let i = 0; i < 10 && !fs.existsSync(target); i++) {
      await page.waitForTimeout(500);
      const ok = page.locator(".quick-input-widget .monaco-button", { hasText: "OK" });
      if (!fs.existsSync(target) && (await ok.isVisible().catch(() => false))) await ok.click().catch(() => {});
    }
    while (!fs.existsSync(target) && Date.now() - t < 15000) await page.waitForTimeout(100);
    await page.waitForTimeout(200);
    const got = fs.readFileSync(target);
    assert.equal(sha256(got), helper.payload_sha256);
    assert.deepEqual(got, Buffer.from(helper.payload_base64, "base64"));
    await wv.locator("#status", { hasText: "Exported" }).waitFor({ timeout: 5000 });
  });

  await check("the tree's context menu offers the helper actions", async () => {
    await wv.locator('.tree-row[data-kind="helper"]', { hasText: "audio" }).click({ button: "right" });
    const item = page.locator(".monaco-menu .action-label", { hasText: "Export Helper Blob..." });
    await item.waitFor({ timeout: 10000 });
    assert.ok(await page.locator(".monaco-menu .action-label", { hasText: "Copy Helper Blob as Base64" }).isVisible());
    await page.keyboard.press("Escape");
  });

  await check("clicking a byte reveals the node that owns it", async () => {
    const tpm = HELPERS.find((h) => h.id === "tpm-emu");
    const blob = Buffer.from(tpm.payload_base64, "base64");
    const at = STREAM.indexOf(blob) + 100;
    await wv.locator("#goto input").fill("0x" + at.toString(16));
    await wv.locator("#goto input").press("Enter");
    await wv.locator(`.hb.cursor[data-o="${at}"]`).waitFor({ timeout: 5000 });
    // the deepest owner is the helper's blob field; the helper panel follows
    await wv.locator(".tree-row.selected", { hasText: "blob" }).waitFor({ timeout: 5000 });
    await wv.locator('.helper-row.selected[data-id="tpm-emu"]').waitFor({ timeout: 5000 });
    // now click a byte elsewhere on screen: a few rows above, in the same helper or its header
    const other = at - 64;
    await wv.locator(`.hb[data-o="${other}"]`).click();
    const sel = wv.locator(".tree-row.selected");
    await sel.waitFor();
    const title = await sel.getAttribute("title");
    const m = /offset 0x([0-9a-f]+) · (\d+) bytes/.exec(title);
    const s = parseInt(m[1], 16);
    assert.ok(s <= other && other < s + Number(m[2]), `${title} does not own ${other}`);
  });

  await check("selecting a tree node highlights exactly its span", async () => {
    await wv.locator(".tree-row", { hasText: "configuration" }).first().click();
    const title = await wv.locator(".tree-row.selected").getAttribute("title");
    const m = /offset 0x([0-9a-f]+) · (\d+) bytes/.exec(title);
    const s = parseInt(m[1], 16);
    const n = Number(m[2]);
    await wv.locator(`.hb.sel[data-o="${s}"]`).waitFor({ timeout: 5000 });
    const hl = await highlighted(wv);
    assert.equal(Math.min(...hl), s);
    assert.equal(Math.max(...hl), s + n - 1);
  });

  await check("keyboard navigation and filter", async () => {
    await wv.locator(".tree").focus();
    await page.keyboard.press("Home");
    await wv.locator('.tree-row.selected[data-kind="header"]').waitFor();
    await page.keyboard.press("ArrowRight");
    await wv.locator('.tree-row.selected[data-kind="header"][aria-expanded="true"]').waitFor();
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowDown");
    await wv.locator('.tree-row.selected[aria-level="2"]').waitFor();
    await wv.locator("#filter input").fill("tpm");
    await wv.locator(".tree-row.match", { hasText: "tpm-emu" }).waitFor({ timeout: 5000 });
    await wv.locator(".tree-row.match", { hasText: "tpm-emu" }).click();
    await wv.locator(".details-name", { hasText: "tpm-emu" }).waitFor();
    await wv.locator("#filter input").fill("");
    await wv.locator(".filter-info[hidden]").waitFor({ state: "attached", timeout: 5000 });
    await wv.locator('.tree-row.selected[data-kind="helper"]', { hasText: "tpm-emu" }).waitFor();
  });

  let treeWidth = 0;
  await check("the tree pane resizes by its sash", async () => {
    const pane = wv.locator(".tree-pane");
    const before = (await pane.boundingBox()).width;
    const box = await wv.locator(".tree-pane .sash").boundingBox();
    await page.mouse.move(box.x + 2, box.y + 200);
    await page.mouse.down();
    await page.mouse.move(box.x + 62, box.y + 200, { steps: 5 });
    await page.mouse.up();
    treeWidth = (await pane.boundingBox()).width;
    assert.ok(Math.abs(treeWidth - before - 60) <= 3, `${before} -> ${treeWidth}`);
  });

  await check("webview state survives hiding the tab", async () => {
    await quickOpen(page, "q35-devices.vmstate");
    await page.locator(".tabs-container .tab.active", { hasText: "q35-devices.vmstate" }).waitFor();
    await page.waitForTimeout(1500);
    await page.locator(".tabs-container .tab", { hasText: "dbus-vmstate-3helpers.vmstate" }).click();
    const wv2 = webview(page);
    await wv2.locator("body[data-loaded=true]").waitFor({ timeout: 30000 });
    await wv2.locator('.tree-row.selected[data-kind="helper"]', { hasText: "tpm-emu" }).waitFor({ timeout: 10000 });
    const w = (await wv2.locator(".tree-pane").boundingBox()).width;
    assert.ok(Math.abs(w - treeWidth) <= 2, `tree width ${w} after restore, was ${treeWidth}`);
  });
  await page.screenshot({ path: path.join(OUT, `editor-tree-${THEME}.png`) });

  await check("a truncated stream opens with its diagnostics summarized and listed", async () => {
    await openStream(page, "truncated.vmstate");
    const w = webview(page);
    await w.locator("body[data-loaded=true]").waitFor({ timeout: 30000 });
    const summary = w.locator("#diag-summary");
    await summary.locator(".sum-error").waitFor();
    assert.match(await summary.textContent(), /\d/);
    await summary.click();
    const first = w.locator("#problems .diag").first();
    await first.waitFor();
    await first.click();
    await w.locator(".tree-row.selected").waitFor();
    await w
      .locator(".details .diag-list .diag")
      .first()
      .waitFor({ timeout: 5000 })
      .catch(() => {});
    await page.screenshot({ path: path.join(OUT, `editor-diagnostics-${THEME}.png`) });
  });

  await check("replace a helper blob through the UI, save, reopen: the new blob is there", async () => {
    await openStream(page, EDIT_NAME);
    let w = webview(page);
    await w.locator("body[data-loaded=true]").waitFor({ timeout: 30000 });
    const blob = Buffer.from(`slirp-helper state v2, edited through the ${THEME} UI\n`.repeat(12));
    const blobFile = path.join(OUT, `new-slirp-${THEME}.bin`);
    fs.writeFileSync(blobFile, blob);
    const row = w.locator('.helper-row[data-id="slirp-helper"]');
    await row.click();
    await row.locator('[data-action="replace-file"]').click();
    // code-server's open dialog is the simple (quick input) dialog: type the full path
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ timeout: 15000 });
    await page.waitForTimeout(500);
    await input.fill(blobFile);
    await page.waitForTimeout(700);
    await page.keyboard.press("Enter");
    const size = row.locator(".helper-size", { hasText: blob.length.toLocaleString("en-US") });
    for (let i = 0; i < 10 && !(await size.isVisible().catch(() => false)); i++) {
      await page.waitForTimeout(500);
      const ok = page.locator(".quick-input-widget .monaco-button", { hasText: /OK|Use This File/ });
      if (await ok.isVisible().catch(() => false)) await ok.click().catch(() => {});
    }
    await size.waitFor({ timeout: 10000 });
    assert.equal((await row.locator(".sha").getAttribute("title")).replace("sha256 ", ""), sha256(blob));
    await w.locator("#pending-edits", { hasText: "1 unsaved edit" }).waitFor({ timeout: 5000 });
    await page.locator(".tabs-container .tab.active.dirty", { hasText: EDIT_NAME }).waitFor({ timeout: 5000 });
    await w.locator("#blob-preview", { hasText: "edited through the" }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: path.join(OUT, `edit-helpers-${THEME}.png`) });

    // a device field: the inline edit box, with its range and an inline error
    await w.locator("#goto input").fill("0x8543b"); // an uint32 "size" of a device section in this stream
    await w.locator("#goto input").press("Enter");
    const box = w.locator("#field-edit input");
    await box.waitFor({ timeout: 5000 });
    await w.locator("#field-hint", { hasText: "4294967295" }).waitFor();
    await box.fill("99999999999");
    await box.press("Enter");
    await w.locator("#field-error", { hasText: "out of range" }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: path.join(OUT, `edit-field-${THEME}.png`) });
    await box.press("Escape");
    await w.locator("#field-error[hidden]").waitFor({ state: "attached", timeout: 5000 });

    await page.keyboard.press("Control+S");
    await page.locator(".tabs-container .tab.active:not(.dirty)", { hasText: EDIT_NAME }).waitFor({ timeout: 15000 });
    const saved = fs.readFileSync(path.join(WS, EDIT_NAME));
    assert.ok(saved.indexOf(blob) > 0, "the saved file holds the new blob");
    await page.keyboard.press("Control+W");
    await page.locator(".tabs-container .tab", { hasText: EDIT_NAME }).waitFor({ state: "detached", timeout: 10000 });
    // reopen (View: Reopen Closed Editor): a fresh document, read from the saved file
    await page.locator(".tabs-container .tab.active").click();
    await page.waitForTimeout(300);
    await page.keyboard.press("Control+Shift+T");
    const reopened = await page
      .locator(".tabs-container .tab.active", { hasText: EDIT_NAME })
      .waitFor({ timeout: 5000 })
      .then(
        () => true,
        () => false,
      );
    if (!reopened) await openStream(page, EDIT_NAME);
    await page.locator("iframe.webview.ready").first().waitFor({ timeout: 20000 });
    w = webview(page);
    await w.locator("body[data-loaded=true]").waitFor({ timeout: 30000 });
    const again = w.locator('.helper-row[data-id="slirp-helper"]');
    await again.locator(".helper-size", { hasText: blob.length.toLocaleString("en-US") }).waitFor({ timeout: 10000 });
    assert.equal((await again.locator(".sha").getAttribute("title")).replace("sha256 ", ""), sha256(blob));
    assert.equal(await w.locator("#pending-edits").count(), 0);
    await again.click();
    await w.locator("#blob-preview", { hasText: "edited through the" }).waitFor({ timeout: 5000 });
  });

  await check("a gzip libvirt save image opens with its container node first and its facts", async () => {
    await openStream(page, "q35-gzip.save");
    const w = webview(page);
    await w.locator("body[data-loaded=true]").waitFor({ timeout: 60000 });
    const first = w.locator(".tree-row").first();
    assert.match(await first.textContent(), /libvirt save image/);
    await first.click();
    await w.locator(".details-name", { hasText: "libvirt save image" }).waitFor();
    const details = await w.locator(".details").textContent();
    assert.match(details, /data_len/);
    assert.match(details, /68204/);
    assert.match(details, /in the file around the QEMU stream/);
    await page.screenshot({ path: path.join(OUT, `editor-libvirt-${THEME}.png`) });
  });

  await check("no Content-Security-Policy violations", async () => {
    assert.deepEqual(cspErrors, []);
  });

  await browser.close();
  console.log(`ui test (${THEME}): PASS (${run.checks.length} checks)`);
})().catch((e) => run.fail(`ui test (${THEME}):`, e, path.join(OUT, `ui-fail-${THEME}.png`)));
