/// <reference types="mocha" />
// The custom editor on files that carry a stream (issue 11), in the real extension host: a libvirt
// gzip image opens with its container node first, the domain XML shows read-only beside, an edit
// inside a raw libvirt image keeps header/XML/cookie, Edit Domain XML rewrites within data_len,
// a qcow2 with two snapshots asks which one and is read-only, Export Stream writes the bare stream.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import { openVmState } from "../../src/container";
import { decodeStream } from "../../src/format";
import type { DocInfo, NodeDetails } from "../../src/shared/protocol";
import { EXT_ID, sha256, waitFor } from "./util";

let C = "";
let tmp = "";

const state = (uri: vscode.Uri) =>
  Promise.resolve(
    vscode.commands.executeCommand<DocInfo | undefined>("qemuVmstate._test.getDocumentState", { uri: uri.toString() }),
  );
const request = <T>(uri: vscode.Uri, method: string, params: unknown) =>
  Promise.resolve(vscode.commands.executeCommand<T>("qemuVmstate._test.request", uri.toString(), method, params));

async function openDefault(file: string): Promise<vscode.Uri> {
  const uri = vscode.Uri.file(file);
  await vscode.commands.executeCommand("vscode.open", uri);
  await waitFor(`custom editor for ${file}`, () => {
    const i = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    return (
      i instanceof vscode.TabInputCustom && i.uri.toString() === uri.toString() && i.viewType === "qemuVmstate.editor"
    );
  });
  return uri;
}

function copy(name: string): string {
  const p = path.join(tmp, name);
  fs.copyFileSync(path.join(C, name), p);
  return p;
}

suiteSetup(async () => {
  const ext = vscode.extensions.getExtension(EXT_ID);
  assert.ok(ext);
  await ext.activate();
  C = path.join(ext.extensionPath, "test", "fixtures", "containers");
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-it-ct-"));
});

suiteTeardown(async () => {
  await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  fs.rmSync(tmp, { recursive: true, force: true });
});

suite("containers in the editor", () => {
  test("a gzip libvirt image (*.save) opens by default, container node first, offsets in stream space", async () => {
    const meta = JSON.parse(fs.readFileSync(path.join(C, "q35-gzip.save.meta.json"), "utf8"));
    const uri = await openDefault(copy("q35-gzip.save"));
    const st = await waitFor("decoded", () => state(uri));
    assert.equal(st.roots[0]!.id, "$container");
    assert.equal(st.roots[0]!.name, "libvirt save image");
    assert.equal(st.size, meta.qemu_stream_size);
    assert.equal(st.summary.errors, 0);
    const d = await request<NodeDetails>(uri, "node/details", { id: "$container" });
    assert.equal(d.info!.data_len, meta.header.data_len);
    assert.equal(d.info!.was_running, 1);
    assert.match(String(d.info!.compressed), /gzip/);
    const sec = await request<NodeDetails>(uri, "node/details", { id: st.roots[1]!.id });
    assert.match(String(sec.info!["file offset"]), /inside the gzip data/);
    const shown = await vscode.commands.executeCommand<string>("qemuVmstate.showDomainXml", { uri: uri.toString() });
    const td = await vscode.workspace.openTextDocument(vscode.Uri.parse(shown));
    assert.match(td.getText(), /^<domain type='qemu'>/);
    assert.equal(sha256(new TextEncoder().encode(td.getText())), meta.data.xml_sha256);
    const cookie = await vscode.commands.executeCommand<string>("qemuVmstate.showCookie", { uri: uri.toString() });
    assert.equal((await vscode.workspace.openTextDocument(vscode.Uri.parse(cookie))).getText(), meta.data.cookie);
  });

  test("an edit inside a raw libvirt image: save keeps header, XML, cookie byte for byte", async () => {
    const file = copy("q35-dbus-vmstate-raw.save");
    const orig = fs.readFileSync(file);
    const uri = await openDefault(file);
    const st = await waitFor("decoded", () => state(uri));
    const off = JSON.parse(
      fs.readFileSync(path.join(C, "q35-dbus-vmstate-raw.save.meta.json"), "utf8"),
    ).qemu_stream_offset_in_file;
    const helperNode = await request<NodeDetails>(uri, "node/details", { id: st.helpers[1]!.nodeId });
    assert.equal(helperNode.info!["file offset"], "0x" + (st.helpers[1]!.entryStart + off).toString(16));
    const bytes = Buffer.from("helper b, edited in a libvirt image");
    const r = await vscode.commands.executeCommand("qemuVmstate.replaceHelperBlobWithBytes", {
      uri: uri.toString(),
      helperId: "lvfix-helper-b",
      bytes: bytes.toString("base64"),
    });
    assert.ok(r);
    await vscode.commands.executeCommand("workbench.action.files.save");
    await waitFor("saved", async () => (await state(uri))?.pendingEdits === 0);
    const now = fs.readFileSync(file);
    assert.ok(now.subarray(0, off).equals(orig.subarray(0, off)), "header + XML + cookie + padding unchanged");
    const o = await openVmState(file);
    try {
      const d = decodeStream(o.source);
      const h = d.helpers.find((x) => x.id === "lvfix-helper-b")!;
      assert.ok(Buffer.from(o.source.read(h.blob.start, h.size)).equals(bytes));
    } finally {
      o.close();
    }
  });

  test("Edit Domain XML rewrites the XML within data_len; the compressed stream is copied unchanged", async () => {
    const file = copy("q35-xz.save");
    const before = fs.readFileSync(file);
    const uri = await openDefault(file);
    await waitFor("decoded", () => state(uri));
    const o0 = await openVmState(file);
    const xml = o0.container.xml!.replace("</domain>", "  <description>from the editor</description>\n</domain>");
    const off = o0.container.streamOffset;
    o0.close();
    assert.equal(await vscode.commands.executeCommand("qemuVmstate.editDomainXml", { uri: uri.toString(), xml }), true);
    const after = fs.readFileSync(file);
    assert.ok(after.subarray(off).equals(before.subarray(off)), "stream bytes untouched");
    const o = await openVmState(file);
    assert.equal(o.container.xml, xml);
    o.close();
    const shown = await vscode.commands.executeCommand<string>("qemuVmstate.showDomainXml", { uri: uri.toString() });
    await waitFor("new XML shown", async () =>
      (await vscode.workspace.openTextDocument(vscode.Uri.parse(shown))).getText().includes("from the editor"),
    );
  });

  test("a qcow2 with two VM-state snapshots asks which one; Pick Snapshot switches; Export Stream writes the bare stream", async () => {
    const j = JSON.parse(fs.readFileSync(path.join(C, "snapshots.qcow2.json"), "utf8"));
    const file = copy("snapshots.qcow2");
    await vscode.commands.executeCommand("qemuVmstate._test.answerPrompts", ["2"]);
    const uri = await openDefault(file);
    const st = await waitFor("decoded", () => state(uri));
    assert.match(st.roots[0]!.name, /^qcow2 snapshot 2 "early"/);
    assert.equal(st.size, j.early_exec_cat_stream.size);
    const out = path.join(tmp, "early.vmstate");
    assert.equal(
      await vscode.commands.executeCommand("qemuVmstate.exportStream", { uri: uri.toString(), target: out }),
      out,
    );
    assert.equal(sha256(fs.readFileSync(out)), j.early_exec_cat_stream.sha256);
    assert.equal(
      await vscode.commands.executeCommand("qemuVmstate.pickSnapshot", { uri: uri.toString(), snapshot: "frag" }),
      true,
    );
    const st2 = await waitFor("frag shown", async () => {
      const s = await state(uri);
      return s && /"frag"/.test(s.roots[0]!.name) ? s : undefined;
    });
    assert.equal(st2.summary.errors, 0);
    const out2 = path.join(tmp, "frag.vmstate");
    await vscode.commands.executeCommand("qemuVmstate.exportStream", { uri: uri.toString(), target: out2 });
    assert.equal(sha256(fs.readFileSync(out2)), j.frag_exec_cat_stream.sha256);
  });
});
