// The compare view's webview: one merged tree of two VM states with the differences marked and
// counted, "only differences", next / previous difference, both sides' values side by side and
// the hex of both files at the selected node. It reuses the stream editor's tree and hex views;
// the comparison worker answers its requests (src/shared/compareProtocol.ts).
import "./toolkit";
import type {
  CompareDetails,
  CompareInfo,
  CompareNotifications,
  CompareRequests,
  CompareSide,
  CompareSideDetails,
  CompareViewState,
  CompareWebviewRequests,
} from "../src/shared/compareProtocol";
import { MessageEndpoint, type NodeDto } from "../src/shared/protocol";
import { fmtOffset, fmtSize, pathCrumbs } from "./detailsPane";
import { HexView } from "./hexView";
import { kindIcon } from "./icons";
import { badge, button, progressRing } from "./toolkit";
import { TreeView } from "./treeView";
import { el } from "./dom";

interface VsCodeApi {
  postMessage(m: unknown): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscodeApi = acquireVsCodeApi();
const rpc = new MessageEndpoint<CompareWebviewRequests, CompareRequests, CompareNotifications, Record<string, never>>(
  (m) => vscodeApi.postMessage(m),
);
window.addEventListener("message", (e) => void rpc.receive(e.data));

document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`),
);

interface Persisted {
  selectedId?: string;
  onlyDiffs?: boolean;
}
let saved: Persisted = (vscodeApi.getState() as Persisted | undefined) ?? {};
const persist = (p: Partial<Persisted>) => {
  saved = { ...saved, ...p };
  vscodeApi.setState(saved);
};

const app = document.getElementById("app")!;
let info: CompareInfo | undefined;
let onlyDiffs = saved.onlyDiffs ?? false;
let diffIndex = -1;
let detailsSeq = 0;
/** The latest selection's details load (cmp/step answers once it is shown). */
let selecting: Promise<void> = Promise.resolve();
let fatalError: string | undefined;

const tree = new TreeView({
  loadChildren: (id, offset) => rpc.request("tree/children", { id, offset, onlyDiffs }),
  onSelect: (n) => {
    selecting = select(n);
  },
  rowContext: () => undefined,
  onStateChange: () => {},
});
tree.element.setAttribute("aria-label", "Differences between A and B");

const hexes: Record<CompareSide, HexView> = {
  a: new HexView({
    readPage: (offset, length) => rpc.request("cmp/readRange", { side: "a", offset, length }),
    onByteClick: (o) => hexes.a.setCursor(o),
    onScroll: () => {},
  }),
  b: new HexView({
    readPage: (offset, length) => rpc.request("cmp/readRange", { side: "b", offset, length }),
    onByteClick: (o) => hexes.b.setCursor(o),
    onScroll: () => {},
  }),
};
const hexTitles: Record<CompareSide, HTMLElement> = { a: el("div", "cmp-hex-title"), b: el("div", "cmp-hex-title") };

const details = el("section", "details cmp-details");
details.id = "cmp-details";
details.setAttribute("aria-label", "Both sides of the selected node");
const header = el("header", "topbar");
const notes = el("ul", "cmp-notes");
notes.hidden = true;
const pos = el("span", "cmp-pos");
pos.id = "cmp-pos";
const status = el("div", "statusline");
status.setAttribute("role", "status");

function sideLabel(side: CompareSide, s: CompareInfo["a"]): HTMLElement {
  const wrap = el("span", "cmp-side");
  wrap.append(el("span", `side-tag side-${side}`, side.toUpperCase()), el("strong", undefined, s.fileName));
  const facts = [fmtSize(s.size).split(" (")[0]!, s.machineType].filter(Boolean).join(" · ");
  wrap.append(el("span", "fact", facts));
  wrap.title = `${s.path}\n${s.size.toLocaleString("en-US")} bytes${s.decodeErrors ? `\n${s.decodeErrors} decode error(s)` : ""}`;
  return wrap;
}

function renderHeader(d: CompareInfo): void {
  const sum = el("div", "cmp-summary");
  sum.id = "cmp-summary";
  if (d.same) sum.append(el("span", "cmp-same", "No differences"));
  else {
    const c = d.counts;
    const part = (n: number, what: string) =>
      n && sum.append(el("span", "hot", `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`));
    part(c.configuration, "configuration difference");
    part(c.sections, "section difference");
    part(c.fields, "field");
    part(c.helpers, "helper");
    part(c.ramPages, "RAM page");
    if (!c.ramPages) part(c.ramBlocks, "RAM block");
  }
  sum.append(el("span", undefined, `compared in ${d.compareMs} ms`));
  const only = el("label", "cmp-only");
  const box = el("input");
  box.type = "checkbox";
  box.id = "only-diffs";
  box.checked = onlyDiffs;
  box.addEventListener("change", () => void setOnlyDiffs(box.checked));
  only.append(box, el("span", undefined, "Only differences"));
  const nav = el("span", "cmp-nav");
  nav.append(
    button({
      icon: "arrow-up",
      title: "Previous difference (Shift+F7)",
      id: "prev-diff",
      onClick: () => void step(-1),
    }),
    pos,
    button({ icon: "arrow-down", title: "Next difference (F7)", id: "next-diff", onClick: () => void step(1) }),
  );
  header.replaceChildren(
    sideLabel("a", d.a),
    el("span", "codicon codicon-arrow-both"),
    sideLabel("b", d.b),
    sum,
    el("div", "grow"),
    only,
    nav,
  );
  notes.hidden = d.notes.length === 0;
  notes.replaceChildren(...d.notes.map((n) => el("li", undefined, n.message)));
  updatePos();
}

function updatePos(): void {
  const total = info?.diffIds.length ?? 0;
  pos.textContent =
    total === 0
      ? "no differences"
      : `${diffIndex >= 0 ? diffIndex + 1 : "–"} of ${total.toLocaleString("en-US")}${info?.diffIdsTruncated ? "+" : ""}`;
}

async function setOnlyDiffs(on: boolean): Promise<void> {
  onlyDiffs = on;
  persist({ onlyDiffs: on });
  const box = document.getElementById("only-diffs") as HTMLInputElement | null;
  if (box) box.checked = on;
  const sel = tree.selectedId;
  const roots = await rpc.request("tree/children", { id: "", onlyDiffs: on });
  tree.setRoots(roots.nodes);
  if (sel) await reveal(sel, false);
}

async function reveal(id: string, fromStep: boolean): Promise<void> {
  const t = await rpc.request("tree/reveal", { id });
  if (!t) return;
  await tree.reveal(t, "reveal");
  if (!fromStep) {
    const i = info?.diffIds.indexOf(id) ?? -1;
    if (i >= 0) diffIndex = i;
    updatePos();
  }
}

async function step(direction: 1 | -1): Promise<void> {
  const ids = info?.diffIds ?? [];
  if (!ids.length) return;
  const cur = tree.selectedId ? ids.indexOf(tree.selectedId) : -1;
  const from = cur >= 0 ? cur : diffIndex;
  let next = from < 0 ? (direction > 0 ? 0 : ids.length - 1) : from + direction;
  if (next >= ids.length) next = 0;
  if (next < 0) next = ids.length - 1;
  diffIndex = next;
  updatePos();
  await reveal(ids[next]!, true);
}

function cell(side: CompareSide, text: string | undefined, cls = ""): HTMLTableCellElement {
  const td = el("td", `${side} ${cls}`.trim());
  if (text === undefined) {
    td.textContent = "—";
    td.classList.add("absent");
  } else td.textContent = text;
  return td;
}

function offsetLink(side: CompareSide, s: CompareSideDetails | undefined, at?: number): HTMLTableCellElement {
  if (!s) return cell(side, undefined);
  const td = el("td", side);
  const o = at ?? s.start;
  const a = el("a", "offset-link", fmtOffset(o));
  a.href = "#";
  a.title = `Show in ${side.toUpperCase()}'s hex view`;
  a.addEventListener("click", (e) => {
    e.preventDefault();
    hexes[side].revealOffset(o, true);
    hexes[side].setCursor(o);
  });
  td.append(a);
  return td;
}

function renderDetails(d: CompareDetails): void {
  const n = d.node;
  const head = el("div", "details-head");
  const title = el("h2", "details-title");
  title.append(el("span", `codicon codicon-${kindIcon(n.kind)}`), el("span", "details-name", n.name));
  const st =
    d.status === "changed"
      ? d.diffs > 1
        ? `${d.diffs} differences`
        : "differs"
      : d.status === "same"
        ? "same"
        : d.status === "only-a"
          ? "only in A"
          : "only in B";
  const sb = badge(st);
  sb.classList.add("cmp-status");
  sb.id = "cmp-status";
  title.append(sb);
  head.append(title);
  if (d.path.length) head.append(pathCrumbs(d.path, (id) => void reveal(id, false)));
  const table = el("table", "cmp-table");
  table.id = "cmp-table";
  const thead = el("thead");
  const hr = el("tr");
  hr.append(
    el("th"),
    el("th", undefined, `A · ${info?.a.fileName ?? ""}`),
    el("th", undefined, `B · ${info?.b.fileName ?? ""}`),
  );
  thead.append(hr);
  const tbody = el("tbody");
  const row = (label: string, a: HTMLTableCellElement, b: HTMLTableCellElement, differs = false) => {
    const tr = el("tr", differs ? "differs" : undefined);
    tr.append(el("th", undefined, label), a, b);
    tbody.append(tr);
  };
  const A = d.a;
  const B = d.b;
  if (A?.value !== undefined || B?.value !== undefined)
    row("Value", cell("a", A?.value), cell("b", B?.value), d.status !== "same");
  if (d.firstDiff !== undefined && A?.valueStart !== undefined && B?.valueStart !== undefined) {
    row(
      "First difference",
      offsetLink("a", A, A.valueStart + d.firstDiff),
      offsetLink("b", B, B.valueStart + d.firstDiff),
    );
  }
  if (A?.type !== undefined || B?.type !== undefined)
    row("Type", cell("a", A?.type), cell("b", B?.type), A?.type !== B?.type && !!A && !!B);
  if (A?.kind !== B?.kind && A && B) row("Kind", cell("a", A.kind), cell("b", B.kind), true);
  for (const f of d.facts ?? [])
    row(f.label, cell("a", f.a), cell("b", f.b), !f.offset && f.a !== f.b && f.a !== undefined && f.b !== undefined);
  row("Offset", offsetLink("a", A), offsetLink("b", B));
  row("Size", cell("a", A ? fmtSize(A.end - A.start) : undefined), cell("b", B ? fmtSize(B.end - B.start) : undefined));
  table.append(thead, tbody);
  const parts: HTMLElement[] = [head, table];
  if (d.fieldPath && d.fieldPath.includes("/")) {
    const p = el("p", "field-path");
    p.append(el("span", "codicon codicon-symbol-field"), el("code", undefined, ` ${d.fieldPath}`));
    p.title = "The field's path (set-field: --section NAME:INSTANCE --field PATH)";
    parts.push(p);
  }
  const acts = el("div", "actions");
  if (A)
    acts.append(
      button({
        label: "Open A here",
        icon: "go-to-file",
        id: "open-a",
        onClick: () => void rpc.request("cmp/open", { side: "a", offset: A.valueStart ?? A.start }).catch(fail),
      }),
    );
  if (B)
    acts.append(
      button({
        label: "Open B here",
        icon: "go-to-file",
        id: "open-b",
        onClick: () => void rpc.request("cmp/open", { side: "b", offset: B.valueStart ?? B.start }).catch(fail),
      }),
    );
  parts.push(acts);
  details.replaceChildren(...parts);
}

function highlight(side: CompareSide, s: CompareSideDetails | undefined, firstDiff?: number): void {
  const h = hexes[side];
  if (!s) {
    h.setHighlight(undefined, false);
    h.setCursor(undefined);
    return;
  }
  h.setHighlight(
    { start: s.start, end: s.end, valueStart: s.valueStart ?? s.start, valueEnd: s.valueEnd ?? s.end },
    true,
  );
  if (firstDiff !== undefined) {
    const o = (s.valueStart ?? s.start) + firstDiff;
    h.setCursor(o);
    h.revealOffset(o);
  } else h.setCursor(undefined);
}

async function select(n: NodeDto): Promise<void> {
  persist({ selectedId: n.id });
  const i = info?.diffIds.indexOf(n.id) ?? -1;
  if (i >= 0) {
    diffIndex = i;
    updatePos();
  }
  const seq = ++detailsSeq;
  try {
    const d = await rpc.request("cmp/details", { id: n.id });
    if (seq !== detailsSeq || !d) return;
    renderDetails(d);
    highlight("a", d.a, d.firstDiff);
    highlight("b", d.b, d.firstDiff);
  } catch (e) {
    fail(e);
  }
}

function fail(e: unknown): void {
  status.textContent = e instanceof Error ? e.message : String(e);
  status.dataset.kind = "error";
}

document.addEventListener("keydown", (e) => {
  if (e.key === "F7") {
    e.preventDefault();
    void step(e.shiftKey ? -1 : 1);
  }
});

function viewState(): CompareViewState {
  const s: CompareViewState = {
    visibleRows: tree.visibleRowCount,
    onlyDiffs,
    diffIndex,
    detailsText: details.textContent ?? "",
  };
  if (tree.selectedId) s.selectedId = tree.selectedId;
  if (fatalError !== undefined) s.error = fatalError;
  const loading = document.getElementById("loading");
  if (loading) s.progress = loading.querySelector("span:not([class])")?.textContent ?? "";
  const ha = hexes.a.highlightRange;
  const hb = hexes.b.highlightRange;
  if (ha) s.hexA = ha;
  if (hb) s.hexB = hb;
  return s;
}
rpc.handle("cmp/getState", () => viewState());
rpc.handle("cmp/step", async ({ direction }) => {
  await step(direction);
  await selecting;
  return viewState();
});
rpc.handle("cmp/setOnlyDiffs", async ({ on }) => {
  await setOnlyDiffs(on);
  await selecting;
  return viewState();
});

rpc.onNotify("cmp/progress", (p) => {
  const l = document.querySelector("#loading span:not([class])");
  if (l) l.textContent = `${p.message}… ${Math.round(p.fraction * 100)}%`;
});

async function start(): Promise<void> {
  const loading = document.getElementById("loading");
  loading?.querySelector(".spinner")?.replaceWith(progressRing());
  // a big comparison takes a while: it can be stopped (the worker ends, the view closes)
  loading?.append(
    button({
      label: "Cancel",
      icon: "close",
      id: "cancel-compare",
      title: "Stop comparing and close this view",
      onClick: () => void rpc.request("cmp/cancel", {}).catch(() => {}),
    }),
  );
  try {
    info = await rpc.request("cmp/ready", {});
    renderHeader(info);
    for (const side of ["a", "b"] as const) {
      const s = info[side];
      hexTitles[side].replaceChildren(
        el("span", `side-tag side-${side}`, side.toUpperCase()),
        document.createTextNode(` ${s.fileName}`),
      );
      hexes[side].setSize(s.size);
    }
    const hexA = el("div", "cmp-hex");
    hexA.append(hexTitles.a, hexes.a.element);
    const hexB = el("div", "cmp-hex");
    hexB.append(hexTitles.b, hexes.b.element);
    const hexRow = el("div", "cmp-hexes");
    hexRow.append(hexA, hexB);
    const right = el("div", "cmp-right");
    right.append(details, hexRow);
    const treePane = el("div", "pane tree-pane");
    treePane.append(tree.element);
    const main = el("main", "cmp-layout");
    main.append(treePane, right);
    details.replaceChildren(
      el(
        "p",
        "empty",
        info.same
          ? "The two states are the same."
          : "Select a node, or step through the differences with F7 / Shift+F7.",
      ),
    );
    app.replaceChildren(header, notes, main, status);
    const roots = onlyDiffs ? (await rpc.request("tree/children", { id: "", onlyDiffs: true })).nodes : info.roots;
    tree.setRoots(roots);
    if (saved.selectedId) await reveal(saved.selectedId, false).catch(() => {});
    else if (info.diffIds.length) await step(1);
    document.body.dataset.loaded = "true";
  } catch (e) {
    fatalError = `Cannot compare: ${e instanceof Error ? e.message : String(e)}`;
    app.replaceChildren(el("div", "fatal", fatalError));
    document.body.dataset.loaded = "error";
  }
}
void start();
