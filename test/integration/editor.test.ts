/// <reference types="mocha" />
// Extension-host integration tests of the custom editor, with the real vscode API. Run by
// test/integration/index.js under @vscode/test-electron or code-server (scripts/e2e.sh).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import { CHILD_CHUNK } from "../../src/shared/protocol";
import type {
  ChildrenChunk,
  DocInfo,
  NodeDetails,
  NodeDto,
  RevealTarget,
  ViewStateSnapshot,
} from "../../src/shared/protocol";
import { EXT_ID, sha256, waitFor } from "./util";

type DocState = DocInfo & { view?: ViewStateSnapshot };

let fixtures = "";
let tmp = "";

async function open(file: string, viewType = "qemuVmstate.editor"): Promise<vscode.Uri> {
  const uri = vscode.Uri.file(file);
  await vscode.commands.executeCommand("vscode.openWith", uri, viewType);
  await waitFor(`custom editor tab for ${file}`, () => {
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    return (
      input instanceof vscode.TabInputCustom && input.uri.toString() === uri.toString() && input.viewType === viewType
    );
  });
  return uri;
}

function state(uri: vscode.Uri): Promise<DocState | undefined> {
  return Promise.resolve(
    vscode.commands.executeCommand<DocState | undefined>("qemuVmstate._test.getDocumentState", { uri: uri.toString() }),
  );
}

function request<T>(uri: vscode.Uri, method: string, params: unknown): Promise<T> {
  return Promise.resolve(
    vscode.commands.executeCommand<T>("qemuVmstate._test.request", uri.toString(), method, params),
  );
}

suiteSetup(async () => {
  const ext = vscode.extensions.getExtension(EXT_ID);
  assert.ok(ext, `extension ${EXT_ID} not found`);
  await ext.activate();
  fixtures = path.join(ext.extensionPath, "test", "fixtures");
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-it-"));
});

suiteTeardown(async () => {
  await vscode.commands.executeCommand("workbench.action.closeAllEditors");
});

suite("custom editor: q35-devices", () => {
  let uri: vscode.Uri;
  const file = () => path.join(fixtures, "q35-devices.vmstate");

  test("*.vmstate opens in the custom editor by default", async () => {
    uri = vscode.Uri.file(file());
    await vscode.commands.executeCommand("vscode.open", uri);
    const input = await waitFor("active custom editor", () => {
      const i = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return i instanceof vscode.TabInputCustom ? i : undefined;
    });
    assert.equal(input.viewType, "qemuVmstate.editor");
  });

  test("decodes the stream: sections, configuration, EOF and vmdesc", async () => {
    const s = await waitFor("document state", () => state(uri));
    assert.equal(s.size, fs.statSync(file()).size);
    assert.equal(s.machineType, "pc-q35-7.2");
    assert.ok(s.sectionCount > 20, `sections: ${s.sectionCount}`);
    const kinds = new Set(s.roots.map((r) => r.kind));
    for (const k of ["header", "configuration", "section", "eof", "vmdesc"])
      assert.ok(kinds.has(k as NodeDto["kind"]), `no ${k} in ${[...kinds]}`);
    assert.equal(s.summary.errors, 0, JSON.stringify(s.diagnostics.slice(0, 3)));
  });

  test("serves children, details, node-at-offset and byte ranges", async () => {
    const s = (await state(uri))!;
    const section = s.roots.find((r) => r.kind === "section" && r.hasChildren && !r.name.startsWith("ram"))!;
    assert.ok(section, "a device section");
    const { nodes: kids, total } = await request<ChildrenChunk>(uri, "tree/children", { id: section.id });
    assert.equal(kids.length, total);
    assert.ok(kids.length > 0);
    for (const k of kids) assert.ok(k.start >= section.start && k.end <= section.end, `${k.id} outside its section`);
    const leaf = kids[kids.length - 1]!;
    const d = await request<NodeDetails>(uri, "node/details", { id: leaf.id });
    assert.equal(d.node.id, leaf.id);
    assert.equal(d.path[0]?.id, section.id);

    const at = await request<RevealTarget>(uri, "tree/nodeAt", { offset: leaf.start });
    assert.equal(at.path[0], section.id);
    assert.ok(at.node.start <= leaf.start && leaf.start < at.node.end);

    const stream = fs.readFileSync(file());
    const head = await request<{ byteLength: number; bytes: number[] }>(uri, "doc/readRange", {
      offset: 0,
      length: 64,
    });
    assert.equal(Buffer.from(head.bytes.slice(0, 4)).toString("latin1"), "QEVM");
    // Pages as the hex view asks for them: exactly sized buffers with the file's bytes.
    for (const offset of [0, 65536, 7 * 65536, stream.length - 1000]) {
      const r = await request<{ byteLength: number; bytes: number[] }>(uri, "doc/readRange", { offset, length: 65536 });
      const expected = stream.subarray(offset, offset + 65536);
      assert.equal(r.byteLength, expected.length, `byteLength at ${offset}`);
      assert.ok(Buffer.from(r.bytes).equals(expected), `bytes at ${offset}`);
    }
  });

  test("RAM page runs expand lazily and own their bytes", async () => {
    const s = (await state(uri))!;
    // A byte inside guest RAM: nodeAt must expand the page run it falls in.
    const ram = s.roots.filter((r) => r.name === "ram").sort((a, b) => b.end - b.start - (a.end - a.start))[0]!;
    const off = Math.floor((ram.start + ram.end) / 2);
    const at = await request<RevealTarget>(uri, "tree/nodeAt", { offset: off });
    assert.ok(at, "node at a RAM offset");
    assert.equal(at.path[0], ram.id);
    assert.ok(at.node.start <= off && off < at.node.end);
  });

  test("a page run with tens of thousands of pages comes in chunks", async () => {
    const s = (await state(uri))!;
    let biggest: { id: string; total: number } | undefined;
    for (const ram of s.roots.filter((r) => r.name === "ram")) {
      for (const off of [ram.start + (ram.end - ram.start) / 4, (ram.start + ram.end) / 2, ram.end - 5000]) {
        const at = await request<RevealTarget | null>(uri, "tree/nodeAt", { offset: Math.floor(off) });
        for (const [id, chunk] of Object.entries(at?.children ?? {}))
          if (!biggest || chunk.total > biggest.total) biggest = { id, total: chunk.total };
      }
    }
    assert.ok(biggest && biggest.total > CHILD_CHUNK, `largest page run: ${JSON.stringify(biggest)}`);
    const c = await request<ChildrenChunk>(uri, "tree/children", { id: biggest.id, offset: CHILD_CHUNK });
    assert.equal(c.offset, CHILD_CHUNK);
    assert.equal(c.nodes.length, Math.min(CHILD_CHUNK, biggest.total - CHILD_CHUNK));
    assert.equal(c.total, biggest.total);
    const last = await request<ChildrenChunk>(uri, "tree/children", { id: biggest.id, offset: biggest.total - 1 });
    assert.equal(last.nodes.length, 1);
    assert.ok(last.nodes[0]!.kind === "page" || last.nodes[0]!.kind === "ram-marker", last.nodes[0]!.kind);
  });

  test("the webview comes up and follows Go to Offset", async () => {
    const view = await waitFor("webview state", async () => (await state(uri))?.view);
    assert.ok(view.visibleRows > 0);
    const s = (await state(uri))!;
    const target = s.roots.find((r) => r.name === "timer") ?? s.roots[5]!;
    await vscode.commands.executeCommand("qemuVmstate.goToOffset", { uri: uri.toString(), offset: target.start + 1 });
    const expected = await request<RevealTarget>(uri, "tree/nodeAt", { offset: target.start + 1 });
    await waitFor("selection to follow", async () => (await state(uri))?.view?.selectedId === expected.node.id);
    const v = (await state(uri))!.view!;
    assert.ok(v.highlight && v.highlight.start <= target.start + 1 && target.start + 1 < v.highlight.end);
  });
});

suite("custom editor: dbus-vmstate helpers", () => {
  let uri: vscode.Uri;
  const file = () => path.join(fixtures, "dbus-vmstate-3helpers.vmstate");

  test("lists the three helpers with sizes and sha256", async () => {
    uri = await open(file());
    const s = await waitFor("document state", () => state(uri));
    assert.deepEqual(s.helpers.map((h) => h.id).sort(), ["audio", "slirp-helper", "tpm-emu"]);
    const stream = fs.readFileSync(file());
    for (const h of s.helpers) {
      assert.equal(h.blobEnd - h.blobStart, h.size);
      assert.equal(h.sha256, sha256(stream.subarray(h.blobStart, h.blobEnd)));
      assert.deepEqual(h.diagnostics, []);
    }
    assert.equal(s.helpers.find((h) => h.id === "slirp-helper")!.isText, true);
    assert.equal(s.helpers.find((h) => h.id === "tpm-emu")!.isText, false);
    assert.ok(s.dbusSectionId);
  });

  test("Export Helper Blob writes the blob byte for byte", async () => {
    const s = (await state(uri))!;
    const stream = fs.readFileSync(file());
    for (const h of s.helpers) {
      const target = path.join(tmp, `one-${h.index}.bin`);
      await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", ["Write"]); // a target not from a dialog is confirmed
      await vscode.commands.executeCommand("qemuVmstate.exportHelperBlob", {
        uri: uri.toString(),
        helperIndex: h.index,
        target,
      });
      assert.deepEqual(
        new Uint8Array(fs.readFileSync(target)),
        new Uint8Array(stream.subarray(h.blobStart, h.blobEnd)),
        h.id,
      );
    }
  });

  test("Export All Helper Blobs writes safe file names and a manifest", async () => {
    const s = (await state(uri))!;
    const dir = path.join(tmp, "all");
    fs.mkdirSync(dir);
    // a target given as an argument (not picked in a dialog) is confirmed first: declined, nothing is written
    await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", [undefined]);
    assert.equal(
      await vscode.commands.executeCommand("qemuVmstate.exportAllHelperBlobs", { uri: uri.toString(), target: dir }),
      undefined,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
    const asked = (await vscode.commands.executeCommand("qemuVmstate._test.takePrompts")) as string[];
    assert.ok(
      asked.some((q) => q.includes(dir)),
      asked.join("; "),
    );
    await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", ["Write"]);
    await vscode.commands.executeCommand("qemuVmstate.exportAllHelperBlobs", { uri: uri.toString(), target: dir });
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
    // the same manifest as `vmstate helpers FILE --extract DIR`
    assert.equal(manifest.length, 3);
    for (const m of manifest) {
      assert.match(m.file, /^[A-Za-z0-9._~-]+\.bin$/);
      const h = s.helpers.find((x) => x.id === m.id)!;
      assert.equal(sha256(fs.readFileSync(path.join(dir, m.file))), h.sha256);
      assert.equal(m.sha256, h.sha256);
      assert.equal(m.offset, h.blobStart);
      assert.equal(m.size, h.size);
    }
  });

  test("Reopen Editor With works for any file name (.mig)", async () => {
    const mig = path.join(tmp, "copy.mig");
    fs.copyFileSync(file(), mig);
    const u = await open(mig, "qemuVmstate.anyFile");
    const s = await waitFor("document state", () => state(u));
    assert.equal(s.helpers.length, 3);
  });
});

suite("custom editor: damaged streams", () => {
  test("a truncated stream opens with what could be decoded and its diagnostics", async () => {
    const src = fs.readFileSync(path.join(fixtures, "q35-devices.vmstate"));
    const file = path.join(tmp, "truncated.vmstate");
    fs.writeFileSync(file, src.subarray(0, Math.floor(src.length * 0.6)));
    const uri = await open(file);
    const s = await waitFor("document state", () => state(uri));
    assert.ok(s.summary.errors >= 1, `expected an error, got ${JSON.stringify(s.summary)}`);
    assert.ok(
      s.diagnostics.some((d) => /truncat|short|eof/i.test(d.code + d.message)),
      JSON.stringify(s.diagnostics.slice(0, 3)),
    );
    assert.ok(
      s.roots.some((r) => r.kind === "configuration"),
      "the configuration still decodes",
    );
    const withNode = s.diagnostics.find((d) => d.nodeId !== undefined);
    if (withNode) {
      const d = await request<NodeDetails | null>(uri, "node/details", { id: withNode.nodeId });
      assert.ok(d, "the diagnostic's node exists");
      assert.ok(d.diagnostics.length >= 1);
    }
    await waitFor("webview state", async () => (await state(uri))?.view);
  });

  test("a file that is not a stream still opens (with an error)", async () => {
    const file = path.join(tmp, "not-a-stream.bin");
    fs.writeFileSync(file, Buffer.from("hello, this is not a migration stream\n"));
    const uri = await open(file, "qemuVmstate.anyFile");
    const s = await waitFor("document state", () => state(uri));
    assert.ok(s.summary.errors >= 1);
  });
});
