// The details pane: everything known about the selected node, with the actions that apply to it.

import type { DiagnosticDto, EditResult, FieldEditInfo, NodeDetails } from "../src/shared/protocol";
import { kindIcon, severityIcon } from "./icons";
import { badge, button, textField } from "./toolkit";
import { el } from "./dom";

export interface DetailsCallbacks {
  revealId(id: string): void;
  revealOffset(offset: number): void;
  helperActions(helperIndex: number): HTMLElement[];
  /** Set an integer/bool field; rejects with the message to show under the box. */
  setField(nodeId: string, value: string): Promise<EditResult>;
  replaceBytes(nodeId: string): void;
}

export function fmtSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]} (${n.toLocaleString("en-US")} B)`;
}

export function fmtOffset(n: number): string {
  return `0x${n.toString(16).toUpperCase()} (${n})`;
}

export function diagnosticItem(
  d: DiagnosticDto,
  cb: { revealId(id: string): void; revealOffset(o: number): void },
): HTMLElement {
  const li = el("li", `diag diag-${d.severity}`);
  li.tabIndex = 0;
  li.dataset.code = d.code;
  const icon = el("span", `codicon codicon-${severityIcon(d.severity)}`);
  const msg = el("span", "diag-msg", d.message);
  const meta = el("span", "diag-meta", `${d.code} · 0x${d.start.toString(16)}`);
  li.append(icon, msg, meta);
  li.title = `${d.severity}: ${d.message}\n[${d.code}] bytes 0x${d.start.toString(16)}–0x${d.end.toString(16)}`;
  const go = () => (d.nodeId !== undefined ? cb.revealId(d.nodeId) : cb.revealOffset(d.start));
  li.addEventListener("click", go);
  li.addEventListener("keydown", (e) => {
    if (e.key === "Enter") go();
  });
  return li;
}

/** The breadcrumbs of a node's path (root first); clicking one reveals that node. */
export function pathCrumbs(path: readonly { id: string; name: string }[], reveal: (id: string) => void): HTMLElement {
  const crumbs = el("nav", "crumbs");
  crumbs.setAttribute("aria-label", "Path");
  path.forEach((p, i) => {
    if (i) crumbs.append(el("span", "codicon codicon-chevron-right sep"));
    const a = el("a", "crumb", p.name);
    a.href = "#";
    a.addEventListener("click", (e) => {
      e.preventDefault();
      reveal(p.id);
    });
    crumbs.append(a);
  });
  return crumbs;
}

export class DetailsPane {
  readonly element: HTMLElement;

  constructor(private readonly cb: DetailsCallbacks) {
    this.element = el("section", "details");
    this.element.setAttribute("aria-label", "Details");
    this.clear();
  }

  clear(): void {
    this.element.replaceChildren(el("p", "empty", "Select a node in the tree or a byte in the hex view."));
  }

  show(d: NodeDetails): void {
    const n = d.node;
    const head = el("div", "details-head");
    const title = el("h2", "details-title");
    title.append(el("span", `codicon codicon-${kindIcon(n.kind)}`), el("span", "details-name", n.name));
    head.append(title);
    const tags = el("div", "tags");
    tags.append(badge(n.kind));
    if (n.type) tags.append(badge(n.type));
    if (n.incomplete) tags.append(badge("incomplete", "Decoding stopped inside this node"));
    head.append(tags);

    if (d.path.length) head.append(pathCrumbs(d.path, (id) => this.cb.revealId(id)));

    const dl = el("dl", "props");
    const prop = (k: string, v: string | HTMLElement, cls?: string) => {
      const dt = el("dt", undefined, k);
      const dd = el("dd", cls);
      if (typeof v === "string") dd.textContent = v;
      else dd.append(v);
      dl.append(dt, dd);
    };
    // the container node (libvirt header, qcow2 snapshot table...) is not part of the stream
    if (n.id === "$container" || n.id.startsWith("$container/"))
      prop("Where", "in the file around the QEMU stream (offsets below are file offsets)");
    else {
      const offLink = el("a", "offset-link", fmtOffset(n.start));
      offLink.href = "#";
      offLink.addEventListener("click", (e) => {
        e.preventDefault();
        this.cb.revealOffset(n.start);
      });
      prop("Offset", offLink);
      prop("Size", fmtSize(n.end - n.start));
      prop("End", fmtOffset(n.end));
    }
    if (n.valueStart !== undefined)
      prop(
        "Value bytes",
        `0x${n.valueStart.toString(16)}–0x${n.valueEnd!.toString(16)} (${n.valueEnd! - n.valueStart} B)`,
      );
    if (d.value !== undefined) {
      const v = el("div", "value-wrap");
      const pre = el("pre", "value", d.value);
      pre.id = "details-value";
      v.append(pre);
      prop(d.valueKind ? `Value (${d.valueKind})` : "Value", v);
      for (const a of d.alternates ?? []) prop(a.label, el("pre", "value alt", a.value));
    }
    if (d.editable?.kind === "integer" || d.editable?.kind === "bool")
      prop("New value", this.valueEditor(d, d.editable), "edit-cell");
    if (d.editable?.kind === "bytes") {
      const nodeId = n.id;
      const b = button({
        label: "Replace bytes from file…",
        icon: "replace",
        id: "replace-bytes",
        title: `Replace these ${d.editable.length} bytes with a file of the same length`,
        onClick: () => this.cb.replaceBytes(nodeId),
      });
      prop("Edit", b, "edit-cell");
    }
    if (n.detail && d.value === undefined) prop("Summary", n.detail);
    if (d.info) for (const [k, v] of Object.entries(d.info)) prop(k, v === null ? "—" : String(v), "info");
    const parts: HTMLElement[] = [head, dl];

    if (d.helperIndex !== undefined) {
      const actions = el("div", "actions");
      actions.append(...this.cb.helperActions(d.helperIndex));
      parts.push(actions);
    }

    if (d.diagnostics.length) {
      const h = el("h3", undefined, `Diagnostics (${d.diagnostics.length})`);
      const ul = el("ul", "diag-list");
      for (const x of d.diagnostics) ul.append(diagnosticItem(x, this.cb));
      parts.push(h, ul);
    }
    this.element.replaceChildren(...parts);
  }

  /** A bare blob (no stream): its facts and, when it is text, the text. */
  showBlob(b: { title: string; sha256: string; isText: boolean; text?: string }, size: number): void {
    const head = el("div", "details-head");
    const title = el("h2", "details-title");
    title.append(el("span", "codicon codicon-file-binary"), el("span", "details-name", b.title));
    head.append(title);
    const dl = el("dl", "props");
    const prop = (k: string, v: string) => dl.append(el("dt", undefined, k), el("dd", undefined, v));
    prop("Size", fmtSize(size));
    prop("sha256", b.sha256);
    const parts: HTMLElement[] = [head, dl];
    if (b.isText && b.text !== undefined) {
      const pre = el("pre", "preview-body mono blob-text", b.text + (size > b.text.length ? "\n…" : ""));
      pre.id = "blob-text";
      parts.push(el("h3", undefined, "Text"), pre);
    }
    this.element.replaceChildren(...parts);
  }

  /** The inline edit box of an integer/bool field: Enter applies, Escape cancels; errors show under it. */
  private valueEditor(d: NodeDetails, e: Extract<FieldEditInfo, { kind: "integer" | "bool" }>): HTMLElement {
    const wrap = el("div", "field-edit");
    const original = d.value ?? "";
    const hint = el(
      "div",
      "field-hint",
      e.kind === "bool"
        ? "true or false · Enter applies, Esc cancels"
        : `${e.enc} · ${e.min} … ${e.max} · Enter applies, Esc cancels`,
    );
    hint.id = "field-hint";
    const err = el("div", "field-error");
    err.id = "field-error";
    err.setAttribute("role", "alert");
    err.hidden = true;
    const showError = (m: string) => {
      err.textContent = m;
      err.hidden = !m;
      box.classList.toggle("invalid", !!m);
    };
    const box = textField({
      id: "field-edit",
      ariaLabel: `New value of ${d.node.name}`,
      value: original,
      icon: "edit",
      onInput: () => showError(""),
      onKeyDown: (k) => {
        if (k.key === "Enter") {
          k.preventDefault();
          const v = box.value.trim();
          if (v === original) return;
          box.classList.add("busy");
          this.cb.setField(d.node.id, v).then(
            (r) => {
              box.classList.remove("busy");
              if (!r.applied) showError("Not applied.");
            },
            (x: unknown) => {
              box.classList.remove("busy");
              showError(x instanceof Error ? x.message : String(x));
            },
          );
        } else if (k.key === "Escape") {
          k.preventDefault();
          k.stopPropagation();
          box.value = original;
          showError("");
        }
      },
    });
    wrap.append(box, hint, err);
    return wrap;
  }
}
