// Webview entry: lays out the header, tree, hex view, details and helper panel and links them.
import "./toolkit";
import type {
  DocInfo,
  DocRefresh,
  HelperAction,
  HelperDto,
  NodeDetails,
  NodeDto,
  RevealTarget,
} from "../src/shared/protocol";
import { parseOffset } from "../src/format/bytes";
import { persist, persisted, rpc } from "./rpc";
import { TreeView } from "./treeView";
import { HexView } from "./hexView";
import { DetailsPane, diagnosticItem, fmtSize } from "./detailsPane";
import { HelperPanel, helperContext } from "./helperPanel";
import { button, progressRing, textField, type TextField } from "./toolkit";
import { el } from "./dom";

// Surface CSP violations with their origin (the UI tests fail on any).
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`),
);

const app = document.getElementById("app")!;
const title = app.dataset.title ?? "";

let info: DocInfo | undefined;
let helperByNode = new Map<string, HelperDto>();
let detailsSeq = 0;

// ---- status line (results of actions) ----
const status = el("div", "statusline");
status.setAttribute("role", "status");
status.id = "status";
let statusTimer: ReturnType<typeof setTimeout> | undefined;
function say(text: string, kind: "info" | "error" = "info"): void {
  status.textContent = text;
  status.dataset.kind = kind;
  if (statusTimer) clearTimeout(statusTimer);
  statusTimer = setTimeout(() => (status.textContent = ""), 8000);
}
function fail(e: unknown): void {
  say(e instanceof Error ? e.message : String(e), "error");
}

// ---- components ----
const tree = new TreeView({
  loadChildren: (id, offset) => rpc.request("tree/children", { id, offset }),
  onSelect: (n, how) => onSelect(n, how),
  rowContext: (n) => {
    const h = helperOf(n.id);
    return h ? helperContext(h) : { webviewSection: "node", nodeId: n.id, preventDefaultContextMenuItems: true };
  },
  onStateChange: () => saveState(),
});

let selectFromHex = false;
const hex = new HexView({
  readPage: (offset, length) => rpc.request("doc/readRange", { offset, length }),
  onByteClick: (o) => void revealOffset(o, false),
  onScroll: () => saveState(),
});

const details = new DetailsPane({
  revealId: (id) => void revealId(id),
  revealOffset: (o) => void revealOffset(o, true),
  setField: (nodeId, value) => rpc.request("edit/setField", { nodeId, value }),
  replaceBytes: (nodeId) => {
    rpc.request("edit/replaceBytes", { nodeId }).then((r) => r.applied && r.label && say(r.label), fail);
  },
  helperActions: (i) => {
    const h = info?.helpers[i];
    if (!h) return [];
    return [
      button({ label: "Export blob…", icon: "export", onClick: () => exportBlob(h) }),
      button({ label: "Copy as hex", icon: "copy", onClick: () => copyBlob(h, "hex") }),
      button({ label: "Copy as base64", icon: "symbol-key", onClick: () => copyBlob(h, "base64") }),
      button({ label: "Replace blob from file…", icon: "replace", onClick: () => helperEdit("replaceFromFile", h) }),
    ];
  },
});

const helpers = new HelperPanel({
  select: (h) => void revealId(h.nodeId),
  exportBlob: (h) => exportBlob(h),
  exportAll: () => {
    rpc
      .request("blob/exportAll", {})
      .then((r) => r.folder && say(`Exported ${r.files} blob(s) and manifest.json to ${r.folder}`), fail);
  },
  copy: (h, f) => copyBlob(h, f),
  read: (o, n) => rpc.request("doc/readRange", { offset: o, length: n }),
  revealId: (id) => void revealId(id),
  previewMode: () => persisted().helperPreview ?? "text",
  setPreviewMode: (m) => persist({ helperPreview: m }),
  edit: (action, h) => helperEdit(action, h),
});

/** Runs a helper edit on the host (it asks for a file, a stream or an Id, and confirms warnings). */
function helperEdit(action: HelperAction, h?: HelperDto): void {
  rpc
    .request("edit/helper", { action, ...(h ? { helperIndex: h.index } : {}) })
    .then((r) => r.applied && r.label && say(r.label), fail);
}

function exportBlob(h: HelperDto): void {
  rpc
    .request("blob/export", { helperIndex: h.index })
    .then((r) => r.path && say(`Exported ${h.id} (${h.size} bytes) to ${r.path}`), fail);
}
function copyBlob(h: HelperDto, format: "hex" | "base64"): void {
  rpc
    .request("blob/copy", { helperIndex: h.index, format })
    .then((r) => say(`Copied ${r.bytes} bytes of ${h.id} as ${format}`), fail);
}

// ---- layout ----
const header = el("header", "topbar");
const problems = el("div", "problems");
problems.id = "problems";
const filterField: TextField = textField({
  id: "filter",
  placeholder: "Filter by name",
  ariaLabel: "Filter nodes by name",
  icon: "filter",
  value: persisted().filter ?? "",
  onInput: (v) => scheduleFilter(v),
  onKeyDown: (e) => {
    if (e.key === "Escape") {
      filterField.value = "";
      scheduleFilter("", 0);
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      tree.element.focus();
    }
  },
});
const filterInfo = el("div", "filter-info");
const treePane = el("div", "pane tree-pane");
treePane.append(filterField, filterInfo, tree.element);
const hexPane = el("div", "pane hex-pane");
hexPane.append(hex.element);
const side = el("div", "pane side-pane");
side.append(details.element, helpers.element);
const main = el("main", "layout");
main.append(treePane, hexPane, side);

/** A draggable edge that resizes a pane (width kept in the webview state; double-click resets). */
function sash(
  pane: HTMLElement,
  edge: "left" | "right",
  cssVar: "--tree-w" | "--side-w",
  key: "treeWidth" | "sideWidth",
): void {
  const h = el("div", `sash sash-${edge}`);
  h.setAttribute("role", "separator");
  h.setAttribute("aria-orientation", "vertical");
  h.title = "Drag to resize; double-click to reset";
  pane.append(h);
  const saved = persisted()[key];
  if (saved) main.style.setProperty(cssVar, `${saved}px`);
  h.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    h.setPointerCapture(e.pointerId);
    const x0 = e.clientX;
    const w0 = pane.getBoundingClientRect().width;
    const move = (m: PointerEvent) => {
      const dx = m.clientX - x0;
      const w = Math.round(Math.max(180, Math.min(main.clientWidth - 420, w0 + (edge === "right" ? dx : -dx))));
      main.style.setProperty(cssVar, `${w}px`);
      persist({ [key]: w });
    };
    const up = () => {
      h.removeEventListener("pointermove", move);
      h.removeEventListener("pointerup", up);
    };
    h.addEventListener("pointermove", move);
    h.addEventListener("pointerup", up);
  });
  h.addEventListener("dblclick", () => {
    main.style.removeProperty(cssVar);
    persist({ [key]: undefined });
  });
}
sash(treePane, "right", "--tree-w", "treeWidth");
sash(side, "left", "--side-w", "sideWidth");

// made once: a toolkit text field is costly to create, and the header is redrawn after every edit
const goto = textField({
  id: "goto",
  placeholder: "Go to offset (0x…)",
  ariaLabel: "Go to offset",
  icon: "go-to-file",
  onEnter: (v) => {
    const size = info?.size ?? 0;
    const o = parseOffset(v, size);
    if (o === undefined) say(`Not an offset inside the file: ${v}`, "error");
    else void revealOffset(o, true);
  },
});

function renderHeader(d: DocInfo): void {
  const name = el("div", "doc-title");
  name.append(el("span", "codicon codicon-file-binary"), el("strong", undefined, d.fileName));
  const facts = el("div", "facts");
  const fact = (t: string, tip?: string) => {
    const s = el("span", "fact", t);
    if (tip) s.title = tip;
    facts.append(s);
  };
  fact(fmtSize(d.size).split(" (")[0]!, `${d.size.toLocaleString("en-US")} bytes`);
  if (d.blob) {
    fact("read-only blob", "Not a file: the bytes a helper returned");
    header.replaceChildren(name, facts);
    return;
  }
  fact(`${d.sectionCount} sections`);
  if (d.machineType) fact(d.machineType, "Machine type (configuration section)");
  if (d.helpers.length) fact(`${d.helpers.length} helpers`);
  if (d.pendingEdits) {
    const p = el("span", "fact pending", `${d.pendingEdits} unsaved edit${d.pendingEdits === 1 ? "" : "s"}`);
    p.id = "pending-edits";
    p.title = "Save (Ctrl+S) writes them; Undo (Ctrl+Z) takes them back one by one";
    facts.append(p);
  }
  fact(`${d.nodeCount.toLocaleString("en-US")} nodes · ${d.decodeMs} ms`, "Decoded nodes and decode time");
  const summary = el("button", "diag-summary");
  summary.id = "diag-summary";
  const s = d.summary;
  const total = s.errors + s.warnings + s.infos;
  summary.setAttribute("aria-expanded", String(!!persisted().problemsOpen));
  if (total === 0) {
    summary.append(el("span", "codicon codicon-pass"), el("span", undefined, "No problems"));
    summary.classList.add("clean");
  } else {
    const part = (n: number, sev: string, icon: string) => {
      if (!n) return;
      const p = el("span", `sum sum-${sev}`);
      p.append(el("span", `codicon codicon-${icon}`), el("span", "count", `${n} ${sev}${n === 1 ? "" : "s"}`));
      p.title = `${n} ${sev}${n === 1 ? "" : "s"}`;
      summary.append(p);
    };
    part(s.errors, "error", "error");
    part(s.warnings, "warning", "warning");
    part(s.infos, "info", "info");
    summary.title = "Show the stream's diagnostics";
  }
  summary.addEventListener("click", () => {
    persist({ problemsOpen: !persisted().problemsOpen });
    summary.setAttribute("aria-expanded", String(!!persisted().problemsOpen));
    renderProblems(d);
  });
  if (header.childElementCount === 5 && header.lastElementChild === goto) {
    // keep the go-to field where it is (detaching it would drop its focus and re-create its parts)
    [name, facts, summary].forEach((x, i) => header.children[i]!.replaceWith(x));
  } else header.replaceChildren(name, facts, summary, el("div", "grow"), goto);
}

function renderProblems(d: DocInfo): void {
  problems.hidden = !persisted().problemsOpen || d.diagnostics.length === 0;
  if (problems.hidden) return;
  const ul = el("ul", "diag-list");
  for (const x of d.diagnostics.slice(0, 500))
    ul.append(
      diagnosticItem(x, { revealId: (id) => void revealId(id), revealOffset: (o) => void revealOffset(o, true) }),
    );
  const more =
    d.diagnostics.length > 500 || d.diagnosticsTruncated
      ? [el("p", "empty", "More diagnostics are not listed here.")]
      : [];
  problems.replaceChildren(ul, ...more);
}

/** Details an edit's refresh brought along for the node about to be selected again. */
let prefetched: { id: string; details: NodeDetails | null } | undefined;

// ---- linking ----
function onSelect(n: NodeDto, how: "user" | "reveal" | "restore"): void {
  // Value bytes get the strong highlight; a node without a value span is all "value".
  const h = { start: n.start, end: n.end, valueStart: n.valueStart ?? n.start, valueEnd: n.valueEnd ?? n.end };
  hex.setHighlight(h, !selectFromHex && how !== "restore");
  const helper = helperOf(n.id);
  helpers.select(helper?.index);
  rpc.notify("view/selection", { id: n.id, ...(helper ? { helperIndex: helper.index } : {}) });
  const seq = ++detailsSeq;
  const known = prefetched;
  prefetched = undefined;
  if (known && known.id === n.id) {
    const t = performance.now();
    if (known.details) details.show(known.details);
    document.body.dataset.detailsMs = String(Math.round(performance.now() - t));
    saveState();
    return;
  }
  rpc.request("node/details", { id: n.id }).then((d) => {
    if (seq === detailsSeq && d) details.show(d);
  }, fail);
  saveState();
}

/** The helper a node belongs to (the helper entry itself or one of its fields). */
function helperOf(id: string): HelperDto | undefined {
  const direct = helperByNode.get(id);
  if (direct) return direct;
  for (const h of info?.helpers ?? []) if (id.startsWith(h.nodeId + "/")) return h;
  return undefined;
}

async function revealId(id: string): Promise<void> {
  try {
    const t = await rpc.request("tree/reveal", { id });
    if (t) await tree.reveal(t, "reveal");
  } catch (e) {
    fail(e);
  }
}

async function revealOffset(offset: number, scrollHex: boolean): Promise<void> {
  try {
    hex.setCursor(offset);
    if (scrollHex) hex.revealOffset(offset);
    const t: RevealTarget | null = await rpc.request("tree/nodeAt", { offset });
    if (!t) {
      say(`No decoded node owns offset 0x${offset.toString(16)} (unparsed bytes)`);
      return;
    }
    selectFromHex = true;
    try {
      await tree.reveal(t, "reveal");
    } finally {
      selectFromHex = false;
    }
  } catch (e) {
    fail(e);
  }
}

let filterTimer: ReturnType<typeof setTimeout> | undefined;
let filterSeq = 0;
function scheduleFilter(q: string, delay = 150): void {
  if (filterTimer) clearTimeout(filterTimer);
  filterTimer = setTimeout(() => void applyFilter(q), delay);
}
async function applyFilter(q: string): Promise<void> {
  persist({ filter: q });
  const seq = ++filterSeq;
  if (!q.trim()) {
    tree.setFilter(undefined);
    filterInfo.textContent = "";
    filterInfo.hidden = true;
    const sel = tree.selectedId;
    if (sel) await revealId(sel);
    return;
  }
  try {
    const r = await rpc.request("tree/filter", { query: q });
    if (seq !== filterSeq) return;
    tree.setFilter(r);
    filterInfo.hidden = false;
    filterInfo.textContent =
      r.matches === 0 ? "No matches" : `${r.matches}${r.truncated ? "+" : ""} match${r.matches === 1 ? "" : "es"}`;
  } catch (e) {
    fail(e);
  }
}

let reportTimer: ReturnType<typeof setTimeout> | undefined;
let lastReport = "";
/**
 * Tells the extension host what the view shows (when that changed), so an edit's reply carries
 * what to redraw. A stale report only costs round trips: what it missed is fetched as before.
 */
function reportView(): void {
  if (reportTimer) return;
  reportTimer = setTimeout(() => {
    reportTimer = undefined;
    const report = {
      expanded: tree.expandedIds,
      ...(tree.selectedId ? { selectedId: tree.selectedId } : {}),
      hexTop: hex.topOffset,
      hexBytes: hex.visibleBytes,
    };
    const text = JSON.stringify(report);
    if (text === lastReport) return;
    lastReport = text;
    rpc.notify("view/state", report);
  }, 50);
}

function saveState(): void {
  reportView();
  persist({
    ...(info ? { uri: info.uri } : {}),
    ...(tree.selectedId ? { selectedId: tree.selectedId } : {}),
    expanded: tree.expandedIds,
    treeScrollTop: tree.scrollTop,
    hexTopRow: hex.topRow,
  });
}

rpc.handle("view/getState", () => {
  const h = hex.highlightRange;
  return {
    ...(tree.selectedId ? { selectedId: tree.selectedId } : {}),
    visibleRows: tree.visibleRowCount,
    expanded: tree.expandedIds,
    hexTopOffset: hex.topOffset,
    ...(h ? { highlight: h } : {}),
  };
});
rpc.onNotify("view/reveal", (p) => {
  if (p.id !== undefined) void revealId(p.id);
  else if (p.offset !== undefined) void revealOffset(p.offset, true);
});
// Opening a big stream: bytes decoded so far, in the loading banner (the worker decodes; the UI stays live).
rpc.onNotify("doc/progress", (p) => {
  const loading = document.getElementById("loading");
  const label = loading?.querySelector("span:last-child");
  if (label) label.textContent = `${p.message} (${Math.round(p.fraction * 100)}%)`;
  loading?.setAttribute("data-progress", String(p.fraction));
  // the records decoded so far: the tree fills in while the rest decodes (the banner moves to the header)
  if (p.roots?.length && !info && !document.body.dataset.ready) {
    if (!main.isConnected) {
      app.replaceChildren(header, problems, main, status);
      if (loading) header.replaceChildren(loading);
      document.body.dataset.partial = "true";
    }
    tree.setRoots(p.roots);
  }
});
rpc.onNotify("doc/didChange", (p) => {
  const inPlace = p.refresh && p.info && info && !info.blob && !p.info.blob && !filterField.value.trim();
  void (inPlace ? patch(p.info!, p.refresh!) : load(true, p.info)).then(() => {
    if (p.reason && !["save", "revert", "disk"].includes(p.reason)) return;
    if (p.reason === "save") say("Saved");
    else if (p.reason)
      say(p.reason === "revert" ? "Reverted to the file on disk" : "Reloaded: the file changed on disk");
  });
});

// ---- start ----
/** Milestones (ms since the webview document started) for the performance tests. */
function mark(name: string): void {
  document.body.dataset[name] = String(Math.round(performance.now()));
}
mark("tScript");

/** What the view shows that should survive a reload of the document (an edit, undo, revert). */
interface ViewKeep {
  expanded: string[];
  selectedId?: string;
  treeScrollTop: number;
  hexTopRow: number;
  filter: string;
}

/** Epoch ms of the last finished update after a change (performance tests time key press to view). */
function markUpdated(marks?: Record<string, number>): void {
  const b = document.body.dataset;
  b.tUpdated = String(Date.now());
  b.updates = String(Number(b.updates ?? 0) + 1);
  if (marks) b.updateMarks = JSON.stringify({ ...marks, received: tReceived, updated: Date.now() });
  rpc.notify("view/updated", {});
}
let tReceived = 0;
let helpersKey = "";

/**
 * An edit, undo or redo: redraw in place from what the change brought (new DocInfo, the changed
 * records' expanded children, the selection and the changed hex bytes); only what it did not cover
 * (another view's expansion) is fetched.
 */
async function patch(d: DocInfo, r: DocRefresh): Promise<void> {
  tReceived = Date.now();
  const seq = ++loadSeq;
  info = d;
  helperByNode = new Map(d.helpers.map((h) => [h.nodeId, h]));
  document.body.dataset.pendingEdits = String(d.pendingEdits);
  const steps: number[] = [performance.now()];
  renderHeader(d);
  renderProblems(d);
  // the helper panel (toolkit buttons) only when its content changed
  const hk = JSON.stringify([d.helpers, d.helperListDiagnostics, d.dbusSectionId !== undefined]);
  if (hk !== helpersKey) helpers.set(d.helpers, d.helperListDiagnostics, d.dbusSectionId !== undefined);
  helpersKey = hk;
  steps.push(performance.now());
  const sel = tree.selectedId;
  const scroll = tree.scrollTop;
  const missing = tree.patch(d.roots, r.changedRoots, r.children);
  steps.push(performance.now());
  hex.patch(d.size, r.changedBytes, r.bytes);
  steps.push(performance.now());
  try {
    if (missing.length) {
      // (another view's change: only what changed came along) fetch the expanded nodes it did not cover
      await tree.restoreExpanded(missing);
      tree.scrollTop = scroll;
    }
    if (sel && r.changedRoots.some((c) => sel === c || sel.startsWith(c + "/"))) {
      // the selection is in a changed record: select it again with its new offsets and details
      const t = r.selected !== undefined ? r.selected : await rpc.request("tree/reveal", { id: sel }).catch(() => null);
      if (seq !== loadSeq) return;
      if (t && t.node.id === sel) {
        if (t === r.selected && r.details !== undefined) prefetched = { id: sel, details: r.details };
        // its parents' children came with the change: select it in place, else expand the path
        if (tree.node(sel) && t.path.slice(0, -1).every((id) => tree.isExpanded(id))) tree.select(sel, "restore");
        else await tree.reveal(t, "restore");
        tree.scrollTop = scroll;
      } else {
        // it went away (a removed helper): show its section, or the first node
        const parent = d.roots.find((x) => sel.startsWith(x.id + "/")) ?? d.roots[0];
        if (parent) tree.select(parent.id, "restore");
      }
    }
  } catch (e) {
    fail(e);
  }
  if (seq !== loadSeq) return;
  void document.body.offsetHeight; // the layout the next frame paints: part of the update's time
  steps.push(performance.now());
  document.body.dataset.updateSteps = steps
    .slice(1)
    .map((x, i) => Math.round(x - steps[i]!))
    .join(",");
  markUpdated(r.marks);
}

let loadSeq = 0;
async function load(reload: boolean, pushed?: DocInfo): Promise<void> {
  const seq = ++loadSeq;
  const loading = document.getElementById("loading");
  if (loading && !loading.querySelector("vscode-progress-ring")) {
    loading.querySelector(".spinner")?.replaceWith(progressRing());
  }
  // After an edit: keep expansion, selection (by node id, when it still exists) and scroll.
  const keep: ViewKeep | undefined =
    reload && info
      ? {
          expanded: tree.expandedIds,
          ...(tree.selectedId ? { selectedId: tree.selectedId } : {}),
          treeScrollTop: tree.scrollTop,
          hexTopRow: hex.topRow,
          filter: filterField.value,
        }
      : undefined;
  try {
    mark("tRequest");
    const d = pushed ?? (await rpc.request("doc/ready", {}));
    if (seq !== loadSeq) return;
    mark("tReady");
    info = d;
    helperByNode = new Map(d.helpers.map((h) => [h.nodeId, h]));
    const st = persisted();
    const restoring = !reload && st.uri === d.uri;
    if (!main.isConnected) app.replaceChildren(header, problems, main, status);
    document.body.dataset.ready = "true";
    document.body.dataset.pendingEdits = String(d.pendingEdits);
    renderHeader(d);
    renderProblems(d);
    document.body.classList.toggle("blob-mode", !!d.blob);
    if (d.blob) {
      // a bare blob (a live helper's Save): hex and text only, no stream tree
      hex.setSize(d.size);
      hex.invalidate();
      hex.setHighlight({ start: 0, end: d.size }, false);
      details.showBlob(d.blob, d.size);
      helpers.set([], [], false);
      document.body.dataset.loaded = "true";
      return;
    }
    hex.setSize(d.size);
    hex.invalidate();
    tree.setRoots(d.roots);
    helpers.set(d.helpers, d.helperListDiagnostics, d.dbusSectionId !== undefined);
    helpersKey = JSON.stringify([d.helpers, d.helperListDiagnostics, d.dbusSectionId !== undefined]);
    const from =
      keep ??
      (restoring
        ? {
            expanded: st.expanded ?? [],
            selectedId: st.selectedId,
            treeScrollTop: st.treeScrollTop ?? 0,
            hexTopRow: st.hexTopRow ?? 0,
            filter: st.filter ?? "",
          }
        : undefined);
    if (from) {
      await tree.restoreExpanded(from.expanded);
      if (from.filter) await applyFilter(from.filter);
      if (from.treeScrollTop) tree.scrollTop = from.treeScrollTop;
      let shown = false;
      if (from.selectedId) {
        const t = await rpc.request("tree/reveal", { id: from.selectedId }).catch(() => null);
        if (t) {
          await tree.reveal(t, "restore");
          shown = true;
        }
      }
      if (!shown) {
        // the selected node went away (a removed helper): show its section, or the first node
        const sel = from.selectedId ?? "";
        const parent = d.roots.find((r) => sel.startsWith(r.id + "/")) ?? d.roots[0];
        if (parent) tree.select(parent.id, "restore");
      }
      if (from.treeScrollTop) tree.scrollTop = from.treeScrollTop;
      if (from.hexTopRow) hex.scrollToRow(from.hexTopRow);
    } else {
      persist({ uri: d.uri, expanded: [], filter: "" });
      filterField.value = "";
      const first = d.roots[0];
      if (first) tree.select(first.id, "restore");
    }
    mark("tLoaded");
    if (reload) {
      void document.body.offsetHeight;
      markUpdated();
    }
    document.body.dataset.loaded = "true";
    document.body.dataset.loads = String(Number(document.body.dataset.loads ?? 0) + 1);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (reload) fail(e);
    else app.replaceChildren(el("div", "fatal", `Cannot show ${title}: ${msg}`));
  }
}

void load(false);
