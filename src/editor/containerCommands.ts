// Commands about the file around the stream: the libvirt domain XML and cookie (read-only, beside),
// Edit Domain XML (what `virsh save-image-edit` does), the qcow2 snapshot picker, Export Stream.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import { listSnapshots } from "../container";
import { askPick } from "./prompts";
import type { VmstateDocument } from "./vmstateDocument";
import type { VmstateEditorProvider } from "./vmstateEditorProvider";

const SCHEME = "qemuvmstate-container";

interface Args {
  uri?: string;
  /** editDomainXml: the new XML (skips the editor); exportStream: the target path; pickSnapshot: the id */
  xml?: string;
  target?: string;
  snapshot?: string;
}

function asArgs(a: unknown): Args {
  return typeof a === "object" && a !== null ? (a as Args) : {};
}

export function registerContainerCommands(context: vscode.ExtensionContext, provider: VmstateEditorProvider): void {
  const docFor = (a: Args): VmstateDocument => {
    const doc = a.uri ? provider.documentFor(vscode.Uri.parse(a.uri)) : provider.documents()[0];
    if (!doc) throw new Error("no VM state editor is open");
    return doc;
  };
  // Read-only documents (a TextDocumentContentProvider's documents cannot be edited)
  const changed = new vscode.EventEmitter<vscode.Uri>();
  context.subscriptions.push(
    changed,
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, {
      onDidChange: changed.event,
      provideTextDocumentContent(uri) {
        const doc = provider.documentFor(vscode.Uri.parse(uri.query));
        const c = doc?.container;
        if (!c) return "<!-- the save image is not open -->";
        return (uri.path.endsWith("/cookie.xml") ? c.cookie : c.xml) ?? "";
      },
    }),
  );
  const show = async (a: Args, what: "domain" | "cookie") => {
    const doc = docFor(a);
    await doc.index();
    const c = doc.container;
    if (c?.kind !== "libvirt-save") throw new Error(`${doc.fileName} is not a libvirt save image`);
    if (what === "cookie" && c.cookie === undefined) throw new Error(`${doc.fileName} has no cookie`);
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${doc.fileName}/${what}.xml`, query: doc.uri.toString() });
    changed.fire(uri);
    const td = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(td, "xml").then(undefined, () => undefined);
    await vscode.window.showTextDocument(td, {
      viewColumn: vscode.ViewColumn.Beside,
      preview: true,
      preserveFocus: true,
    });
    return uri.toString();
  };
  /** Writes the new XML into the image (within data_len; stream untouched) and reloads it. */
  const applyXml = async (doc: VmstateDocument, xml: string) => {
    if (doc.isDirty)
      throw new Error(`${doc.fileName} has unsaved stream edits: save or revert them before editing the domain XML`);
    // written by the document's worker (it holds the open image), then read again
    await doc.writeDomainXml(xml);
  };
  const run = (f: (a: Args) => Promise<unknown>) => async (raw: unknown) => {
    try {
      return await f(asArgs(raw));
    } catch (e) {
      void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
      return undefined;
    }
  };
  context.subscriptions.push(
    vscode.commands.registerCommand(
      "qemuVmstate.showDomainXml",
      run((a) => show(a, "domain")),
    ),
    vscode.commands.registerCommand(
      "qemuVmstate.showCookie",
      run((a) => show(a, "cookie")),
    ),
    vscode.commands.registerCommand(
      "qemuVmstate.editDomainXml",
      run(async (a) => {
        const doc = docFor(a);
        await doc.index();
        const c = doc.container;
        if (c?.kind !== "libvirt-save") throw new Error(`${doc.fileName} is not a libvirt save image`);
        if (a.xml !== undefined) {
          await applyXml(doc, a.xml);
          return true;
        }
        // like virsh save-image-edit: edit a copy, and saving it writes it into the image
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmstate-xml-"));
        const file = path.join(dir, doc.fileName.replace(/\.[^.]*$/, "") + ".domain.xml");
        fs.writeFileSync(file, c.xml ?? "");
        const td = await vscode.workspace.openTextDocument(file);
        await vscode.window.showTextDocument(td, { viewColumn: vscode.ViewColumn.Beside });
        void vscode.window.showInformationMessage(
          `Editing the domain XML of ${doc.fileName}: save this file to write it into the image (like virsh save-image-edit); the QEMU stream is not touched.`,
        );
        const sub = vscode.workspace.onDidSaveTextDocument(async (saved) => {
          if (saved.uri.fsPath !== file) return;
          try {
            await applyXml(doc, saved.getText());
            void vscode.window.showInformationMessage(`Wrote the new domain XML into ${doc.fileName}.`);
          } catch (e) {
            void vscode.window.showErrorMessage(`Domain XML not written: ${e instanceof Error ? e.message : e}`);
          }
        });
        const closed = vscode.workspace.onDidCloseTextDocument((d) => {
          if (d.uri.fsPath !== file) return;
          sub.dispose();
          closed.dispose();
          fs.rmSync(dir, { recursive: true, force: true });
        });
        context.subscriptions.push(sub, closed);
        return file;
      }),
    ),
    vscode.commands.registerCommand(
      "qemuVmstate.pickSnapshot",
      run(async (a) => {
        const doc = docFor(a);
        if (doc.container?.kind !== "qcow2-snapshot")
          throw new Error(`${doc.fileName} is not a qcow2 image with snapshots`);
        let id = a.snapshot;
        if (id === undefined) {
          const items = listSnapshots(doc.uri.fsPath).map((s) => ({
            label: `${s.id === doc.snapshot ? "$(check) " : ""}${s.id} ${s.tag}`,
            description: s.vmStateSize ? `${s.vmStateSize} bytes VM state, ${s.date}` : "disk only (no VM state)",
            id: s.id,
            has: s.vmStateSize > 0,
          }));
          const pick = await askPick(
            items.filter((i) => i.has),
            { title: `${doc.fileName}: show which snapshot's VM state?` },
          );
          if (!pick) return false;
          id = pick.id;
        }
        await doc.switchSnapshot(id);
        return true;
      }),
    ),
    vscode.commands.registerCommand(
      "qemuVmstate.exportStream",
      run(async (a) => {
        const doc = docFor(a);
        await doc.index();
        let target = a.target;
        if (!target) {
          const base = doc.uri.scheme === "file" ? doc.uri.fsPath.replace(/(\.[^./]*)?$/, "") : doc.fileName;
          const snap = doc.container?.snapshot;
          const uri = await vscode.window.showSaveDialog({
            defaultUri: vscode.Uri.file(`${base}${snap ? "-" + snap.tag : ""}.vmstate`),
            title: "Export the bare QEMU stream",
            filters: { "QEMU migration stream": ["vmstate"] },
          });
          if (!uri) return undefined;
          target = uri.fsPath;
        }
        await doc.exportStream(target);
        void vscode.window.showInformationMessage(`Exported the QEMU stream of ${doc.fileName} to ${target}.`);
        return target;
      }),
    ),
  );
}
