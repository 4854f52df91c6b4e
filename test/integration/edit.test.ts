/// <reference types="mocha" />
// Editing through VS Code: each edit one labelled undo step (undo/redo through the workbench),
// dirty state, save (temp file + rename), save as, revert, hot-exit backups holding the edit
// list, and the prompt when the file changes on disk while edits are pending.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { decodeStream } from "../../src/format/decode";
import { findNode } from "../../src/model/edits";
import { MemoryByteSource } from "../../src/io/memorySource";
import type { VNode } from "../../src/format/types";
import type { DocInfo, EditResult, ViewStateSnapshot } from "../../src/shared/protocol";
import type { QemuVmstateApi } from "../../src/extension";
import type { VmstateDocument } from "../../src/editor/vmstateDocument";
import { EXT_ID, sha256, waitFor } from "./util";

type DocState = DocInfo & { view?: ViewStateSnapshot };

let api: QemuVmstateApi;
let fixtures = "";
let dir = "";

/** A copy of a fixture in the workspace (the file watcher covers it), opened in the custom editor. */
async function openCopy(name: string, as = name): Promise<{ uri: vscode.Uri; file: string }> {
  const file = path.join(dir, as);
  fs.copyFileSync(path.join(fixtures, name), file);
  const uri = vscode.Uri.file(file);
  await vscode.commands.executeCommand("vscode.openWith", uri, "qemuVmstate.editor");
  await waitFor(`custom editor for ${as}`, () => {
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    return input instanceof vscode.TabInputCustom && input.uri.toString() === uri.toString();
  });
  await waitFor("document state", () => state(uri));
  return { uri, file };
}

function state(uri: vscode.Uri): Promise<DocState | undefined> {
  return Promise.resolve(
    vscode.commands.executeCommand<DocState | undefined>("qemuVmstate._test.getDocumentState", { uri: uri.toString() }),
  );
}

function editState(uri: vscode.Uri): Promise<{ dirty: boolean; edits: string[] }> {
  return Promise.resolve(
    vscode.commands.executeCommand<{ dirty: boolean; edits: string[] }>("qemuVmstate._test.editState", {
      uri: uri.toString(),
    }),
  );
}

function doc(uri: vscode.Uri): VmstateDocument {
  const d = api.editor.documentFor(uri);
  assert.ok(d, `no document for ${uri}`);
  return d;
}

/** The whole edited stream as the document serves it. */
async function bytesOf(uri: vscode.Uri): Promise<Uint8Array> {
  const d = doc(uri);
  const idx = await d.index();
  return (await d.read(0, idx.size)).slice();
}

function tabDirty(uri: vscode.Uri): boolean | undefined {
  for (const g of vscode.window.tabGroups.all)
    for (const t of g.tabs)
      if (t.input instanceof vscode.TabInputCustom && t.input.uri.toString() === uri.toString()) return t.isDirty;
  return undefined;
}

async function run(command: string, args: Record<string, unknown>): Promise<EditResult> {
  const r = await vscode.commands.executeCommand<EditResult & { error?: string }>(command, args);
  assert.ok(r && r.applied, `${command} not applied: ${JSON.stringify(r)}`);
  // The document told VS Code of the edit before the command returned; the workbench has it on
  // its undo stack once the tab shows dirty (later messages, an "undo", arrive after it).
  const uri = vscode.Uri.parse(String(args.uri));
  await waitFor("the edit on the workbench's undo stack", () => tabDirty(uri) === true);
  return r;
}

/**
 * Runs VS Code's undo or redo on the active editor and waits for the document to have done it
 * (its content-change event), then for the reply to reach the workbench (a macrotask later: every
 * promise of the extension host's undo has settled), so the next command is never sent mid-undo.
 */
async function undoRedo(uri: vscode.Uri, what: "undo" | "redo"): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => (sub.dispose(), reject(new Error(`no ${what} of ${uri.path} within 30 s`))), 30000);
    const sub = doc(uri).onDidChangeContent((e) => {
      if (e.reason !== what) return;
      clearTimeout(t);
      sub.dispose();
      resolve();
    });
  });
  await vscode.commands.executeCommand(what);
  await done;
  await new Promise((r) => setImmediate(r));
}

async function undo(uri: vscode.Uri, times = 1): Promise<void> {
  for (let i = 0; i < times; i++) await undoRedo(uri, "undo");
}

/** A settable integer field of a device section (not framing, not the dbus-vmstate data). */
function someField(root: VNode): VNode {
  const stack = [...(root.children ?? [])].reverse();
  while (stack.length) {
    const n = stack.shift()!;
    if (n.kind === "section" && !n.name.startsWith("dbus-vmstate") && !n.name.startsWith("ram")) {
      const inner = [...(n.children ?? [])];
      while (inner.length) {
        const c = inner.shift()!;
        if (c.children?.length) inner.unshift(...c.children);
        else if (
          (c.enc === "u32" || c.enc === "u16" || c.enc === "u64") &&
          !c.id.split("/").some((s) => s.startsWith("$")) &&
          !/equal|le$/.test(c.type ?? "")
        )
          return c;
      }
    }
  }
  throw new Error("no settable field");
}

async function closeAll(): Promise<void> {
  await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor").then(undefined, () => undefined);
  await vscode.commands.executeCommand("workbench.action.closeAllEditors");
}

suiteSetup(async () => {
  const ext = vscode.extensions.getExtension<QemuVmstateApi>(EXT_ID);
  assert.ok(ext);
  api = await ext.activate();
  fixtures = path.join(ext.extensionPath, "test", "fixtures");
  const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(ws, "a workspace folder (the file watcher must cover the edited files)");
  dir = fs.mkdtempSync(path.join(ws, "edit-it-"));
});

suiteTeardown(async () => {
  await closeAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

suite("editing: helpers", () => {
  let uri: vscode.Uri;
  let file: string;
  let original: Buffer;
  const blob = new TextEncoder().encode("a new slirp state, longer than the old one ".repeat(20));

  test("replace a blob: one labelled undo step, dirty tab, the webview follows", async () => {
    ({ uri, file } = await openCopy("dbus-vmstate-3helpers.vmstate", "helpers.vmstate"));
    original = fs.readFileSync(file);
    const s0 = (await state(uri))!;
    const slirp = s0.helpers.find((h) => h.id === "slirp-helper")!;
    // select the helper in the webview; the selection must survive the edit
    await vscode.commands.executeCommand("qemuVmstate.revealNode", { uri: uri.toString(), id: slirp.nodeId });
    await waitFor("selection", async () => (await state(uri))?.view?.selectedId === slirp.nodeId);
    const blobFile = path.join(dir, "new-slirp.bin");
    fs.writeFileSync(blobFile, blob);
    const r = await run("qemuVmstate.replaceHelperBlob", {
      uri: uri.toString(),
      helperIndex: slirp.index,
      file: blobFile,
    });
    assert.equal(r.label, `Replace blob of helper "slirp-helper" (${blob.length} bytes)`);
    const s1 = (await state(uri))!;
    const h1 = s1.helpers.find((h) => h.id === "slirp-helper")!;
    assert.equal(h1.size, blob.length);
    assert.equal(h1.sha256, sha256(blob));
    assert.equal(s1.pendingEdits, 1);
    assert.equal(s1.summary.errors, 0, JSON.stringify(s1.diagnostics.slice(0, 3)));
    await waitFor("dirty tab", () => tabDirty(uri) === true);
    assert.deepEqual((await editState(uri)).edits, [r.label]);
    await waitFor(
      "the webview reloaded and kept the selection by node id",
      async () => {
        const v = (await state(uri))?.view;
        return v?.selectedId === slirp.nodeId ? v : undefined;
      },
      10000,
    );
    assert.ok(fs.readFileSync(file).equals(original), "the file is untouched until saved");
  });

  test("undo gives back identical bytes, redo the edit", async () => {
    const edited = await bytesOf(uri);
    await undo(uri);
    await waitFor("undone", async () => (await editState(uri)).edits.length === 0);
    assert.ok(Buffer.from(await bytesOf(uri)).equals(original), "undo restores every byte");
    await waitFor("clean tab", () => tabDirty(uri) === false);
    await undoRedo(uri, "redo");
    await waitFor("redone", async () => (await editState(uri)).edits.length === 1);
    assert.ok(Buffer.from(await bytesOf(uri)).equals(Buffer.from(edited)));
    await waitFor("dirty tab", () => tabDirty(uri) === true);
  });

  test("rename, add and remove are one undo step each", async () => {
    const s = (await state(uri))!;
    const tpm = s.helpers.find((h) => h.id === "tpm-emu")!;
    await run("qemuVmstate.renameHelper", { uri: uri.toString(), helperIndex: tpm.index, newId: "tpm-emu-2" });
    const addFile = path.join(dir, "added.bin");
    fs.writeFileSync(addFile, Buffer.from("added helper state"));
    await run("qemuVmstate.addHelper", { uri: uri.toString(), id: "added", file: addFile });
    const audio = (await state(uri))!.helpers.find((h) => h.id === "audio")!;
    await run("qemuVmstate.removeHelper", { uri: uri.toString(), helperIndex: audio.index });
    const ids = (await state(uri))!.helpers.map((h) => h.id);
    assert.deepEqual(ids.sort(), ["added", "slirp-helper", "tpm-emu-2"]);
    assert.equal((await editState(uri)).edits.length, 4);
    await undo(uri, 3);
    await waitFor("three undone", async () => (await editState(uri)).edits.length === 1);
    assert.deepEqual((await state(uri))!.helpers.map((h) => h.id).sort(), ["audio", "slirp-helper", "tpm-emu"]);
  });

  test("an edit QEMU would refuse needs an explicit confirmation", async () => {
    const s = (await state(uri))!;
    const audio = s.helpers.find((h) => h.id === "audio")!;
    const before = (await editState(uri)).edits.length;
    await vscode.commands.executeCommand("qemuVmstate._test.takePrompts");
    await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", [undefined]);
    const declined = await vscode.commands.executeCommand<EditResult>("qemuVmstate.renameHelper", {
      uri: uri.toString(),
      helperIndex: audio.index,
      newId: "tpm-emu",
    });
    assert.equal(declined?.applied, false);
    assert.equal((await editState(uri)).edits.length, before);
    const asked = await vscode.commands.executeCommand<string[]>("qemuVmstate._test.takePrompts");
    assert.match(asked.join("\n"), /QEMU would refuse/);
    await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", ["Apply Anyway"]);
    await run("qemuVmstate.renameHelper", { uri: uri.toString(), helperIndex: audio.index, newId: "tpm-emu" });
    const s2 = (await state(uri))!;
    assert.ok(
      s2.helpers.some((h) => h.diagnostics.some((d) => d.code === "dbus-id-duplicate")),
      "the decoder flags the duplicate",
    );
    await undo(uri);
    await waitFor("undone", async () => (await editState(uri)).edits.length === before);
  });

  test("a cancelled save leaves the file as it was and the edits pending", async () => {
    const before = fs.readFileSync(file);
    const cts = new vscode.CancellationTokenSource();
    const saving = api.editor.saveCustomDocument(doc(uri), cts.token);
    cts.cancel(); // the worker stops at its next block and removes its temp file
    await assert.rejects(Promise.resolve(saving), /cancelled/);
    assert.ok(fs.readFileSync(file).equals(before), "the file on disk is untouched");
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
      "no temp file left",
    );
    assert.ok((await editState(uri)).dirty, "the edits are still pending");
  });

  test("save writes the edit and nothing else; the document reopens the file", async () => {
    await vscode.commands.executeCommand("workbench.action.files.save");
    await waitFor("saved", async () => !(await editState(uri)).dirty && tabDirty(uri) === false);
    const saved = fs.readFileSync(file);
    const d = decodeStream(new MemoryByteSource(saved));
    assert.equal(d.diagnostics.filter((x) => x.severity === "error").length, 0);
    const before = decodeStream(new MemoryByteSource(original));
    assert.deepEqual(
      d.helpers.map((h) => h.id),
      before.helpers.map((h) => h.id),
    );
    for (const h of d.helpers) {
      const old = before.helpers.find((x) => x.id === h.id)!;
      const got = saved.subarray(h.blob.start, h.blob.end);
      if (h.id === "slirp-helper") assert.ok(got.equals(Buffer.from(blob)));
      else assert.ok(got.equals(original.subarray(old.blob.start, old.blob.end)), `${h.id} unchanged`);
    }
    // everything before the dbus-vmstate section is the same bytes
    const sec = before.sections.find((s) => s.name.startsWith("dbus-vmstate"))!;
    const secNode = findNode(before.root, sec.nodeId)!;
    assert.ok(saved.subarray(0, secNode.span.start).equals(original.subarray(0, secNode.span.start)));
    // the document reads the new file (not the replaced inode)
    assert.ok(Buffer.from(await bytesOf(uri)).equals(saved));
    assert.equal((await state(uri))!.pendingEdits, 0);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
      "no temp file left",
    );
  });

  test("undo after a save takes the saved edit back", async () => {
    const saved = fs.readFileSync(file);
    await undo(uri);
    await waitFor("dirty again", () => tabDirty(uri) === true);
    assert.ok(Buffer.from(await bytesOf(uri)).equals(original), "back to the original bytes");
    await undoRedo(uri, "redo");
    await waitFor("redone", async () => Buffer.from(await bytesOf(uri)).equals(saved));
    // back at the saved state: nothing pending, for VS Code and for the document
    await waitFor("clean tab", () => tabDirty(uri) === false);
    assert.deepEqual(await editState(uri), { dirty: false, edits: [] });
  });

  test("revert drops the edits", async () => {
    const s = (await state(uri))!;
    await run("qemuVmstate.removeHelper", { uri: uri.toString(), helperIndex: 0 });
    await vscode.commands.executeCommand("workbench.action.files.revert");
    await waitFor(
      "reverted",
      async () => (await state(uri))!.helpers.length === s.helpers.length && !(await editState(uri)).dirty,
    );
    assert.ok(Buffer.from(await bytesOf(uri)).equals(fs.readFileSync(file)));
    await waitFor("clean tab", () => tabDirty(uri) === false);
  });

  test("save as writes the edited stream to another file", async () => {
    const s = (await state(uri))!;
    await run("qemuVmstate.renameHelper", { uri: uri.toString(), helperIndex: 0, newId: "renamed" });
    const target = vscode.Uri.file(path.join(dir, "saved-as.vmstate"));
    await api.editor.saveCustomDocumentAs(doc(uri), target, new vscode.CancellationTokenSource().token);
    const d = decodeStream(new MemoryByteSource(fs.readFileSync(target.fsPath)));
    assert.deepEqual(
      d.helpers.map((h) => h.id),
      ["renamed", ...s.helpers.slice(1).map((h) => h.id)],
    );
    assert.ok(fs.readFileSync(file).equals(fs.readFileSync(file)), "the original stays");
    await undo(uri);
    await waitFor("undone", async () => (await editState(uri)).edits.length === 0);
  });

  test("a backup holds the edit list; a document made from it has the edits back", async () => {
    const blobFile = path.join(dir, "backup-blob.bin");
    fs.writeFileSync(blobFile, Buffer.from("state from the backup"));
    await run("qemuVmstate.replaceHelperBlob", { uri: uri.toString(), helperIndex: 1, file: blobFile });
    await run("qemuVmstate.renameHelper", { uri: uri.toString(), helperIndex: 2, newId: "after-backup" });
    const expected = await bytesOf(uri);
    const destination = vscode.Uri.file(path.join(dir, "backup.json"));
    const token = new vscode.CancellationTokenSource().token;
    const b = await api.editor.backupCustomDocument(doc(uri), { destination }, token);
    const json = JSON.parse(fs.readFileSync(destination.fsPath, "utf8"));
    assert.equal(json.edits.length, 2);
    assert.equal(json.edits[0].type, "helper-set");
    assert.ok(fs.statSync(destination.fsPath).size < 1000, "the edit list, not a copy of the file");
    const restored = await api.editor.openCustomDocument(
      uri,
      { backupId: b.id, untitledDocumentData: undefined },
      token,
    );
    try {
      await restored.index();
      assert.deepEqual(
        restored.edits.map((e) => e.type),
        ["helper-set", "helper-rename"],
      );
      assert.ok(restored.isDirty);
      assert.ok(
        Buffer.from(await restored.read(0, expected.length)).equals(Buffer.from(expected)),
        "same bytes as the document backed up",
      );
    } finally {
      restored.dispose();
      await b.delete();
    }
    await undo(uri, 2);
    await waitFor("undone", async () => (await editState(uri)).edits.length === 0);
  });

  test("a change on disk with edits pending asks: keep mine, or reload and drop them", async () => {
    await run("qemuVmstate.removeHelper", { uri: uri.toString(), helperIndex: 0 });
    await vscode.commands.executeCommand("qemuVmstate._test.takePrompts");
    await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", ["Keep My Edits"]);
    fs.appendFileSync(file, Buffer.from([0])); // someone else writes the file
    const asked = await waitFor(
      "the prompt",
      async () => {
        const a = await vscode.commands.executeCommand<string[]>("qemuVmstate._test.takePrompts");
        return a.length ? a : undefined;
      },
      15000,
    );
    assert.match(asked[0]!, /changed on disk/);
    // handled once the document takes the file on disk as the version it knows (no more asking)
    await waitFor("the answer handled", async () => (await doc(uri).onDiskChange()) === "ignored");
    assert.equal((await editState(uri)).edits.length, 1, "edits kept");

    await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", ["Reload and Drop My Edits"]);
    const changed = Buffer.concat([original, Buffer.from([0, 0])]);
    fs.writeFileSync(file + ".new", changed);
    fs.renameSync(file + ".new", file);
    await waitFor(
      "reloaded without edits",
      async () => (await editState(uri)).edits.length === 0 && (await state(uri))!.size === changed.length,
      15000,
    );
    await waitFor("clean tab", () => tabDirty(uri) === false);
  });

  test("without pending edits a change on disk just reloads", async () => {
    // the last test's reload settled: the document knows the file as it is on disk
    await waitFor("the last reload settled", async () => (await doc(uri).onDiskChange()) === "ignored");
    await vscode.commands.executeCommand("qemuVmstate._test.takePrompts");
    fs.writeFileSync(file, original);
    await waitFor("reloaded", async () => (await state(uri))!.size === original.length, 15000);
    const asked = await vscode.commands.executeCommand<string[]>("qemuVmstate._test.takePrompts");
    assert.deepEqual(asked, []);
  });
});

suite("editing: device fields", () => {
  const streams = ["q35-devices.vmstate", "pc-devices.vmstate", "dbus-vmstate-3helpers.vmstate"];
  for (const name of streams) {
    test(`${name}: set a field, undo to identical bytes, save changes only that field`, async () => {
      const { uri, file } = await openCopy(name, `field-${name}`);
      const original = fs.readFileSync(file);
      const decoded = decodeStream(new MemoryByteSource(original));
      const f = someField(decoded.root);
      const value = f.enc === "u16" ? "0x1234" : "0x12345678";
      const bad = f.enc === "u16" ? "70000" : "-1";
      await run("qemuVmstate.setField", { uri: uri.toString(), nodeId: f.id, value });
      const details = await vscode.commands.executeCommand<{ value?: string }>(
        "qemuVmstate._test.request",
        uri.toString(),
        "node/details",
        { id: f.id },
      );
      assert.equal(BigInt(details.value!), BigInt(value));
      await undo(uri);
      await waitFor("undone", async () => (await editState(uri)).edits.length === 0);
      const back = Buffer.from(await bytesOf(uri));
      const diff = back.findIndex((x, i) => x !== original[i]);
      assert.ok(
        back.equals(original),
        `identical after undo: ${back.length} vs ${original.length} bytes, first difference at ${diff} (field ${f.id} at ${f.span.start})`,
      );
      await undoRedo(uri, "redo");
      await waitFor("redone", async () => (await editState(uri)).edits.length === 1);
      await vscode.commands.executeCommand("workbench.action.files.save");
      await waitFor("saved", async () => !(await editState(uri)).dirty);
      const saved = fs.readFileSync(file);
      assert.equal(saved.length, original.length);
      const vs = f.valueSpan ?? f.span;
      for (let i = 0; i < saved.length; i++)
        if (saved[i] !== original[i]) assert.ok(i >= vs.start && i < vs.end, `byte ${i} changed outside ${f.id}`);
      const after = findNode(decodeStream(new MemoryByteSource(saved)).root, f.id)!;
      assert.equal(BigInt(after.value as number | bigint), BigInt(value));
      const err = await vscode.commands.executeCommand<{ applied: boolean; error?: string }>("qemuVmstate.setField", {
        uri: uri.toString(),
        nodeId: f.id,
        value: bad,
      });
      assert.equal(err?.applied, false);
      assert.match(err?.error ?? "", /out of range/);
      assert.equal((await editState(uri)).edits.length, 0);
      await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
    });
  }

  test("q35-no-vmdesc.vmstate: replace an opaque payload's bytes (same length only)", async () => {
    const { uri, file } = await openCopy("q35-no-vmdesc.vmstate", "opaque.vmstate");
    const original = fs.readFileSync(file);
    const decoded = decodeStream(new MemoryByteSource(original));
    let target: VNode | undefined;
    const stack = [decoded.root];
    while (stack.length && !target) {
      const n = stack.shift()!;
      if (n.kind === "opaque" && !n.enc && !n.children?.length && n.span.end - n.span.start >= 8) target = n;
      stack.push(...(n.children ?? []));
    }
    assert.ok(target, "an opaque payload");
    const len = target.span.end - target.span.start;
    const wrong = path.join(dir, "wrong-length.bin");
    fs.writeFileSync(wrong, Buffer.alloc(len + 1, 0xab));
    const r0 = await vscode.commands.executeCommand<{ applied: boolean; error?: string }>("qemuVmstate.replaceBytes", {
      uri: uri.toString(),
      nodeId: target.id,
      file: wrong,
    });
    assert.equal(r0?.applied, false);
    assert.match(r0?.error ?? "", /length must stay the same/);
    const right = path.join(dir, "right-length.bin");
    fs.writeFileSync(right, Buffer.alloc(len, 0xab));
    await run("qemuVmstate.replaceBytes", { uri: uri.toString(), nodeId: target.id, file: right });
    await vscode.commands.executeCommand("workbench.action.files.save");
    await waitFor("saved", async () => !(await editState(uri)).dirty);
    const saved = fs.readFileSync(file);
    assert.ok(saved.subarray(target.span.start, target.span.end).equals(Buffer.alloc(len, 0xab)));
    assert.ok(saved.subarray(0, target.span.start).equals(original.subarray(0, target.span.start)));
    assert.ok(saved.subarray(target.span.end).equals(original.subarray(target.span.end)));
    await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
  });
});

suite("editing: bus explorer hooks", () => {
  test("qemuVmstate.replaceHelperBlobWithBytes replaces a helper's blob by Id (the bus explorer's Save → use in stream)", async () => {
    const { uri } = await openCopy("dbus-vmstate-3helpers.vmstate", "bus-use.vmstate");
    const bytes = new TextEncoder().encode("live helper state from the bus");
    const r = await run("qemuVmstate.replaceHelperBlobWithBytes", { uri: uri.toString(), helperId: "audio", bytes });
    assert.match(r.label ?? "", /audio/);
    const h = (await state(uri))!.helpers.find((x) => x.id === "audio")!;
    assert.equal(h.sha256, sha256(bytes));
    // an Id the stream lacks is added
    await run("qemuVmstate.replaceHelperBlobWithBytes", {
      uri: uri.toString(),
      helperId: "new-one",
      bytes: Array.from(bytes),
    });
    assert.ok((await state(uri))!.helpers.some((x) => x.id === "new-one"));
    await undo(uri, 2);
    await waitFor("undone", async () => (await editState(uri)).edits.length === 0);
    await waitFor("clean tab", () => tabDirty(uri) === false);
    await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
  });

  test("showBlob opens bytes read-only in the blob view", async () => {
    const bytes = new TextEncoder().encode("a helper's live state\nsecond line\n");
    await api.showBlob("tpm-emu · Save from :1.42", bytes);
    const input = await waitFor("blob tab", () => {
      const i = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return i instanceof vscode.TabInputCustom && i.uri.scheme === "qemu-vmstate-blob" ? i : undefined;
    });
    const s = await waitFor("blob state", () => state(input.uri));
    assert.equal(s.size, bytes.length);
    assert.ok(s.blob, "blob info");
    assert.equal(s.blob.sha256, sha256(bytes));
    assert.equal(s.blob.text, new TextDecoder().decode(bytes));
    const r = await vscode.commands.executeCommand<{ byteLength: number; bytes: number[] }>(
      "qemuVmstate._test.request",
      input.uri.toString(),
      "doc/readRange",
      { offset: 0, length: 100 },
    );
    assert.deepEqual(r.bytes, Array.from(bytes));
    await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
  });
});
