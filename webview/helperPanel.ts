// The dbus-vmstate helper panel: one row per helper with its checks and actions, and a preview
// of the selected blob as hex and (when it is text) as text.

import type { DiagnosticDto, HelperAction, HelperDto } from "../src/shared/protocol";
import { severityIcon } from "./icons";
import { button } from "./toolkit";
import { el } from "./dom";
import { hexdumpLines } from "../src/format/bytes";

const PREVIEW_BYTES = 16 * 1024;

export interface HelperCallbacks {
  select(h: HelperDto): void;
  exportBlob(h: HelperDto): void;
  exportAll(): void;
  copy(h: HelperDto, format: "hex" | "base64"): void;
  read(offset: number, length: number): Promise<ArrayBuffer>;
  revealId(id: string): void;
  previewMode(): "hex" | "text";
  setPreviewMode(m: "hex" | "text"): void;
  /** An edit of helper `h` (or, for "add", of the list); the host asks for what it needs. */
  edit(action: HelperAction, h?: HelperDto): void;
}

/** Short labels for the decoder's helper checks (codes from src/format/dbusVmstate.ts). */
const CHECK_LABELS: Record<string, string> = {
  "dbus-blob-too-large": "> 1 MiB",
  "dbus-blob-empty": "empty",
  "dbus-id-empty": "bad Id",
  "dbus-id-too-long": "bad Id",
  "dbus-id-not-utf8": "bad Id",
  "dbus-id-duplicate": "duplicate",
  "dbus-count-mismatch": "count mismatch",
};

export function checkLabel(d: DiagnosticDto): string {
  return CHECK_LABELS[d.code] ?? d.code;
}

export function helperContext(h: HelperDto): Record<string, unknown> {
  return { webviewSection: "helper", helperIndex: h.index, helperId: h.id, preventDefaultContextMenuItems: true };
}

export class HelperPanel {
  readonly element: HTMLElement;
  private helpers: HelperDto[] = [];
  private listDiags: DiagnosticDto[] = [];
  private selected?: number;
  private previewSeq = 0;

  constructor(private readonly cb: HelperCallbacks) {
    this.element = el("section", "helpers");
    this.element.id = "helpers";
    this.element.setAttribute("aria-label", "dbus-vmstate helpers");
  }

  /** The stream has a dbus-vmstate section (helpers can be added). */
  hasSection = false;

  set(helpers: HelperDto[], listDiags: DiagnosticDto[], present: boolean): void {
    this.hasSection = present;
    this.helpers = helpers;
    this.listDiags = listDiags;
    this.element.hidden = !present && helpers.length === 0;
    this.render();
  }

  get selectedIndex(): number | undefined {
    return this.selected;
  }

  select(index: number | undefined): void {
    if (index === this.selected) return;
    this.selected = index;
    this.render();
  }

  private render(): void {
    const head = el("div", "panel-head");
    const title = el("h3", undefined, `dbus-vmstate helpers (${this.helpers.length})`);
    head.append(title);
    const headActions = el("span", "head-actions");
    if (this.hasSection) {
      headActions.append(
        button({
          label: "Add helper…",
          icon: "add",
          id: "add-helper",
          title: "Add a helper entry: an Id and a blob from a file",
          onClick: () => this.cb.edit("add"),
        }),
      );
    }
    if (this.helpers.length) {
      headActions.append(
        button({
          label: "Export all…",
          icon: "export",
          id: "export-all",
          title: "Export every helper blob and a manifest.json into a folder",
          onClick: () => this.cb.exportAll(),
        }),
      );
    }
    head.append(headActions);
    const parts: HTMLElement[] = [head];
    if (this.listDiags.length) {
      const ul = el("ul", "diag-list");
      for (const d of this.listDiags) {
        const li = el("li", `diag diag-${d.severity}`);
        li.append(el("span", `codicon codicon-${severityIcon(d.severity)}`), el("span", "diag-msg", d.message));
        li.dataset.code = d.code;
        ul.append(li);
      }
      parts.push(ul);
    }
    if (!this.helpers.length) {
      parts.push(el("p", "empty", "The dbus-vmstate section carries no helper blobs."));
      this.element.replaceChildren(...parts);
      return;
    }
    const list = el("div", "helper-list");
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Helpers");
    for (const h of this.helpers) {
      const row = el("div", "helper-row");
      row.dataset.index = String(h.index);
      row.dataset.id = h.id;
      row.dataset.vscodeContext = JSON.stringify(helperContext(h));
      row.tabIndex = 0;
      row.setAttribute("role", "option");
      row.setAttribute("aria-selected", String(h.index === this.selected));
      if (h.index === this.selected) row.classList.add("selected");
      const line1 = el("div", "helper-line");
      const id = el("span", "helper-id", h.id || "(empty Id)");
      if (h.idHex) id.title = `Id bytes (not UTF-8): ${h.idHex}`;
      const size = el("span", "helper-size", `${h.size.toLocaleString("en-US")} B`);
      const checks = el("span", "checks");
      if (h.diagnostics.length === 0) {
        const ok = el("span", "check ok");
        ok.title = "Passes QEMU's checks: Id 1..255 bytes, unique, blob 1 B..1 MiB";
        ok.append(el("span", "codicon codicon-pass"), document.createTextNode("ok"));
        checks.append(ok);
      }
      for (const d of h.diagnostics) {
        const c = el("span", `check check-${d.severity}`);
        c.append(el("span", `codicon codicon-${severityIcon(d.severity)}`), document.createTextNode(checkLabel(d)));
        c.title = `${d.message} [${d.code}]`;
        c.dataset.code = d.code;
        checks.append(c);
      }
      line1.append(id, size, checks);
      const line2 = el("div", "helper-line");
      const sha = el("span", "mono sha", `sha256 ${h.sha256.slice(0, 16)}…`);
      sha.title = `sha256 ${h.sha256}`;
      const actions = el("span", "row-actions");
      actions.append(
        button({
          icon: "export",
          title: `Export blob of ${h.id}…`,
          onClick: (e) => (e.stopPropagation(), this.cb.exportBlob(h)),
        }),
        button({ icon: "copy", title: "Copy as hex", onClick: (e) => (e.stopPropagation(), this.cb.copy(h, "hex")) }),
        button({
          icon: "file-binary",
          title: "Copy as base64",
          onClick: (e) => (e.stopPropagation(), this.cb.copy(h, "base64")),
        }),
        el("span", "action-sep"),
        editButton("replace", `Replace blob of ${h.id} from file…`, "replace-file", () =>
          this.cb.edit("replaceFromFile", h),
        ),
        editButton("arrow-swap", `Replace from another open stream's helper…`, "replace-stream", () =>
          this.cb.edit("replaceFromStream", h),
        ),
        editButton("edit", `Rename Id of ${h.id}…`, "rename", () => this.cb.edit("rename", h)),
        editButton("trash", `Remove ${h.id}`, "remove", () => this.cb.edit("remove", h)),
      );
      line2.append(sha, actions);
      row.append(line1, line2);
      row.addEventListener("click", () => this.cb.select(h));
      row.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          this.cb.select(h);
        } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault();
          const next = this.helpers[h.index + (e.key === "ArrowDown" ? 1 : -1)];
          if (next) {
            this.cb.select(next);
            requestAnimationFrame(() =>
              (this.element.querySelector(`.helper-row[data-index="${next.index}"]`) as HTMLElement | null)?.focus(),
            );
          }
        }
      });
      list.append(row);
    }
    parts.push(list);
    const sel = this.selected !== undefined ? this.helpers[this.selected] : undefined;
    if (sel) parts.push(this.preview(sel));
    this.element.replaceChildren(...parts);
  }

  private preview(h: HelperDto): HTMLElement {
    const box = el("div", "blob-preview");
    const bar = el("div", "preview-bar");
    const mode = h.isText ? this.cb.previewMode() : "hex";
    const label = el("span", "preview-title", `${h.id}: ${h.size.toLocaleString("en-US")} bytes`);
    bar.append(label);
    const tabs = el("div", "seg");
    for (const m of ["hex", "text"] as const) {
      if (m === "text" && !h.isText) continue;
      const b = el("button", "seg-btn" + (m === mode ? " on" : ""), m === "hex" ? "Hex" : "Text");
      b.setAttribute("aria-pressed", String(m === mode));
      b.addEventListener("click", () => {
        this.cb.setPreviewMode(m);
        this.render();
      });
      tabs.append(b);
    }
    bar.append(
      tabs,
      button({ label: "Export blob…", icon: "export", id: "export-blob", onClick: () => this.cb.exportBlob(h) }),
    );
    const pre = el("pre", "preview-body mono");
    pre.id = "blob-preview";
    pre.textContent = h.size === 0 ? "(empty blob)" : "Loading…";
    box.append(bar, pre);
    const seq = ++this.previewSeq;
    const n = Math.min(h.size, PREVIEW_BYTES);
    if (n > 0) {
      void this.cb.read(h.blobStart, n).then((buf) => {
        if (seq !== this.previewSeq) return;
        const b = new Uint8Array(buf);
        const more = h.size > n ? `\n… ${(h.size - n).toLocaleString("en-US")} more bytes (see the hex view)` : "";
        pre.textContent = (mode === "text" ? new TextDecoder().decode(b) : hexDump(b)) + more;
        pre.dataset.mode = mode;
      });
    }
    return box;
  }
}

/** An icon button for a row's edit action; data-action lets tests and keyboard users find it. */
function editButton(icon: string, title: string, action: string, run: () => void): HTMLElement {
  const b = button({ icon, title, onClick: (e) => (e.stopPropagation(), run()) });
  b.dataset.action = action;
  return b;
}

/** A compact dump (8 bytes a line: it fits the side pane) with blob-relative offsets. */
function hexDump(b: Uint8Array): string {
  return hexdumpLines(b, { perLine: 8, gapAt: 0, offsetPrefix: "+", minDigits: 4, bars: false }).join("\n");
}
