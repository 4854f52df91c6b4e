// The section tree: a virtualized list of the expanded nodes (fixed row height, only the rows
// on screen exist in the DOM), children fetched lazily from the extension host.

import {
  CHILD_CHUNK,
  type ChildrenChunk,
  type FilterResult,
  type NodeDto,
  type RevealTarget,
} from "../src/shared/protocol";
import { kindIcon, severityIcon } from "./icons";

export const TREE_ROW_HEIGHT = 22;

interface Row {
  id: string;
  depth: number;
  /** A child not fetched yet (big page runs come in chunks as they scroll into view). */
  pending?: { parent: string; index: number };
  /** Filter mode: the row matched (others are ancestors shown for context). */
  match?: boolean;
}

export interface TreeCallbacks {
  loadChildren(id: string, offset: number): Promise<ChildrenChunk>;
  onSelect(node: NodeDto, how: "user" | "reveal" | "restore"): void;
  /** data-vscode-context for a row (context menu), if any. */
  rowContext(node: NodeDto): Record<string, unknown> | undefined;
  onStateChange(): void;
}

export class TreeView {
  readonly element: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private nodes = new Map<string, NodeDto>();
  /** Child ids by parent; entries are undefined until their chunk has been fetched. */
  private children = new Map<string, (string | undefined)[]>();
  private chunkLoads = new Set<string>();
  private parent = new Map<string, string>();
  private roots: string[] = [];
  private expanded = new Set<string>();
  private rows: Row[] = [];
  private filterRows?: Row[];
  private selected?: string;
  private rowPool: HTMLElement[] = [];
  private loading = new Map<string, Promise<void>>();

  constructor(private readonly cb: TreeCallbacks) {
    this.element = document.createElement("div");
    this.element.className = "tree";
    this.element.tabIndex = 0;
    this.element.setAttribute("role", "tree");
    this.element.setAttribute("aria-label", "Stream structure");
    this.spacer = document.createElement("div");
    this.spacer.className = "tree-spacer";
    this.rowsEl = document.createElement("div");
    this.rowsEl.className = "tree-rows";
    this.element.append(this.spacer, this.rowsEl);
    this.element.addEventListener("scroll", () => {
      this.render();
      this.cb.onStateChange();
    });
    this.element.addEventListener("keydown", (e) => this.onKey(e));
    this.element.addEventListener("click", (e) => this.onClick(e));
    new ResizeObserver(() => this.render()).observe(this.element);
  }

  setRoots(roots: NodeDto[]): void {
    this.nodes.clear();
    this.children.clear();
    this.parent.clear();
    this.expanded.clear();
    this.roots = roots.map((n) => n.id);
    for (const n of roots) this.nodes.set(n.id, n);
    this.selected = undefined;
    this.relayout();
  }

  /**
   * After an edit, undo or redo: new top-level nodes; the subtrees of `changed` roots are dropped
   * and refilled from `chunks` (first chunks of their expanded nodes); everything else (other
   * roots' fetched children, expansion, scroll) stays. Returns the expanded nodes under changed
   * roots that `chunks` did not cover (the caller fetches them).
   */
  patch(roots: NodeDto[], changed: string[], chunks: Record<string, ChildrenChunk>): string[] {
    const isChanged = (id: string) => changed.some((c) => id === c || id.startsWith(c + "/"));
    // drop the changed records' subtrees (walked through the fetched children: a big RAM run's
    // thousands of rows elsewhere are not looked at)
    const stack = changed.slice();
    while (stack.length) {
      const id = stack.pop()!;
      this.nodes.delete(id);
      this.parent.delete(id);
      for (const k of this.children.get(id) ?? []) if (k !== undefined) stack.push(k);
      this.children.delete(id);
    }
    // (a selection reached by reveal may sit in a chunk that was never listed: drop it too)
    if (this.selected && isChanged(this.selected)) this.nodes.delete(this.selected);
    for (const k of [...this.chunkLoads]) if (isChanged(k.split("\u0000")[0]!)) this.chunkLoads.delete(k);
    this.roots = roots.map((n) => n.id);
    for (const n of roots) this.nodes.set(n.id, n);
    for (const [id, chunk] of Object.entries(chunks)) if (this.nodes.has(id)) this.addChunk(id, chunk);
    const missing: string[] = [];
    for (const id of [...this.expanded]) {
      if (!this.nodes.has(id) && !isChanged(id)) continue;
      if (!this.children.has(id)) {
        this.expanded.delete(id);
        if (isChanged(id)) missing.push(id);
      }
    }
    if (this.selected && !this.nodes.has(this.selected)) this.selected = undefined;
    this.relayout();
    return missing;
  }

  isExpanded(id: string): boolean {
    return this.expanded.has(id);
  }

  get selectedId(): string | undefined {
    return this.selected;
  }

  get expandedIds(): string[] {
    return [...this.expanded];
  }

  get visibleRowCount(): number {
    return (this.filterRows ?? this.rows).length;
  }

  get scrollTop(): number {
    return this.element.scrollTop;
  }

  set scrollTop(v: number) {
    this.element.scrollTop = v;
  }

  node(id: string): NodeDto | undefined {
    return this.nodes.get(id);
  }

  private addChunk(id: string, chunk: ChildrenChunk): void {
    let ids = this.children.get(id);
    if (!ids || ids.length !== chunk.total) {
      ids = new Array<string | undefined>(chunk.total).fill(undefined);
      this.children.set(id, ids);
    }
    chunk.nodes.forEach((k, i) => {
      ids![chunk.offset + i] = k.id;
      this.nodes.set(k.id, k);
      this.parent.set(k.id, id);
    });
  }

  private ensureChildren(id: string): Promise<void> {
    if (this.children.has(id)) return Promise.resolve();
    let p = this.loading.get(id);
    if (!p) {
      p = this.cb.loadChildren(id, 0).then(
        (chunk) => {
          this.addChunk(id, chunk);
          this.loading.delete(id);
        },
        (e) => {
          this.loading.delete(id);
          throw e;
        },
      );
      this.loading.set(id, p);
    }
    return p;
  }

  /** Fetches the chunk holding a pending row, then lays out again. */
  private loadChunk(parent: string, index: number): void {
    const offset = Math.floor(index / CHILD_CHUNK) * CHILD_CHUNK;
    const key = `${parent}\u0000${offset}`;
    if (this.chunkLoads.has(key)) return;
    this.chunkLoads.add(key);
    this.cb.loadChildren(parent, offset).then(
      (chunk) => {
        this.chunkLoads.delete(key);
        this.addChunk(parent, chunk);
        this.relayout();
      },
      () => this.chunkLoads.delete(key),
    );
  }

  async expand(id: string, relayout = true): Promise<void> {
    const n = this.nodes.get(id);
    if (!n?.hasChildren) return;
    await this.ensureChildren(id);
    this.expanded.add(id);
    if (relayout) this.relayout();
  }

  collapse(id: string): void {
    this.expanded.delete(id);
    this.relayout();
  }

  /** Re-expands a saved set of nodes (parents come before children in the list). */
  async restoreExpanded(ids: string[]): Promise<void> {
    for (const id of ids.slice(0, 2000)) {
      if (!this.nodes.has(id)) continue;
      try {
        await this.expand(id, false);
      } catch {
        /* the node went away */
      }
    }
    this.relayout();
  }

  private relayout(): void {
    const rows: Row[] = [];
    const walk = (parent: string | undefined, ids: (string | undefined)[], depth: number) => {
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (id === undefined) {
          rows.push({ id: `\u0000${parent}\u0000${i}`, depth, pending: { parent: parent!, index: i } });
          continue;
        }
        rows.push({ id, depth });
        if (this.expanded.has(id)) walk(id, this.children.get(id) ?? [], depth + 1);
      }
    };
    walk(undefined, this.roots, 0);
    this.rows = rows;
    this.render();
    this.cb.onStateChange();
  }

  setFilter(result: FilterResult | undefined): void {
    if (!result) {
      this.filterRows = undefined;
    } else {
      for (const r of result.rows) if (!this.nodes.has(r.node.id)) this.nodes.set(r.node.id, r.node);
      this.filterRows = result.rows.map((r) => ({ id: r.node.id, depth: r.depth, match: r.match }));
    }
    this.element.scrollTop = 0;
    this.render();
  }

  get filtering(): boolean {
    return this.filterRows !== undefined;
  }

  private get activeRows(): Row[] {
    return this.filterRows ?? this.rows;
  }

  /** Expands the path to a node, selects it and scrolls it into view. */
  async reveal(t: RevealTarget, how: "user" | "reveal" | "restore" = "reveal"): Promise<void> {
    this.nodes.set(t.node.id, t.node);
    for (const [pid, chunk] of Object.entries(t.children)) this.addChunk(pid, chunk);
    for (const id of t.path.slice(0, -1)) {
      await this.ensureChildren(id);
      this.expanded.add(id);
    }
    if (this.filterRows && !this.filterRows.some((r) => r.id === t.node.id)) this.filterRows = undefined;
    this.relayout();
    this.select(t.node.id, how);
  }

  select(id: string, how: "user" | "reveal" | "restore" = "user"): void {
    const n = this.nodes.get(id);
    if (!n) return;
    this.selected = id;
    this.scrollToRow(
      this.activeRows.findIndex((r) => r.id === id),
      how !== "user",
    );
    this.render();
    this.cb.onSelect(n, how);
    this.cb.onStateChange();
  }

  /** Scrolls a row into view: minimally (keyboard), or centred when it was off screen (reveal). */
  private scrollToRow(i: number, center = false): void {
    if (i < 0) return;
    const top = i * TREE_ROW_HEIGHT;
    const h = this.element.clientHeight;
    const off = top < this.element.scrollTop || top + TREE_ROW_HEIGHT > this.element.scrollTop + h;
    if (center && off) {
      this.element.scrollTop = Math.max(0, top - Math.floor(h / 2));
      return;
    }
    if (top < this.element.scrollTop) this.element.scrollTop = top;
    else if (top + TREE_ROW_HEIGHT > this.element.scrollTop + h) this.element.scrollTop = top + TREE_ROW_HEIGHT - h;
  }

  render(): void {
    const rows = this.activeRows;
    this.spacer.style.height = `${rows.length * TREE_ROW_HEIGHT}px`;
    const h = this.element.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.element.scrollTop / TREE_ROW_HEIGHT) - 2);
    const last = Math.min(rows.length, first + Math.ceil(h / TREE_ROW_HEIGHT) + 5);
    const count = Math.max(0, last - first);
    while (this.rowPool.length < count) {
      const el = document.createElement("div");
      el.className = "tree-row";
      el.setAttribute("role", "treeitem");
      this.rowsEl.append(el);
      this.rowPool.push(el);
    }
    for (let i = 0; i < this.rowPool.length; i++) {
      const el = this.rowPool[i]!;
      const row = i < count ? rows[first + i] : undefined;
      if (!row) {
        el.hidden = true;
        continue;
      }
      el.hidden = false;
      this.paintRow(el, row, first + i);
    }
    const sel = this.selected;
    if (sel) this.element.setAttribute("aria-activedescendant", "tree-" + cssId(sel));
  }

  private paintRow(el: HTMLElement, row: Row, index: number): void {
    el.style.transform = `translateY(${index * TREE_ROW_HEIGHT}px)`;
    if (row.pending) {
      painted.delete(el);
      this.loadChunk(row.pending.parent, row.pending.index);
      el.id = "";
      delete el.dataset.id;
      el.dataset.kind = "pending";
      el.className = "tree-row pending";
      el.removeAttribute("aria-expanded");
      el.setAttribute("aria-level", String(row.depth + 1));
      delete el.dataset.vscodeContext;
      el.title = "";
      const indent = document.createElement("span");
      indent.className = "indent";
      indent.style.width = `${row.depth * 12 + 20}px`;
      const label = document.createElement("span");
      label.className = "detail";
      label.textContent = "Loading…";
      el.replaceChildren(indent, label);
      return;
    }
    el.classList.remove("pending");
    const n = this.nodes.get(row.id)!;
    // unchanged rows (same node object, place and state) are left alone: after an edit only the
    // changed records' rows are painted again
    const key = `${index}|${row.depth}|${n.id === this.selected}|${this.expanded.has(n.id)}|${this.filterRows !== undefined}|${!!row.match}`;
    const was = painted.get(el);
    if (was && was.node === n && was.key === key) return;
    painted.set(el, { node: n, key });
    el.id = "tree-" + cssId(n.id);
    el.dataset.id = n.id;
    el.dataset.kind = n.kind;
    el.setAttribute("aria-level", String(row.depth + 1));
    el.setAttribute("aria-selected", String(n.id === this.selected));
    if (n.hasChildren) el.setAttribute("aria-expanded", String(this.filterRows ? true : this.expanded.has(n.id)));
    else el.removeAttribute("aria-expanded");
    el.classList.toggle("selected", n.id === this.selected);
    el.classList.toggle("match", !!row.match);
    el.classList.toggle("dim", this.filterRows !== undefined && !row.match);
    el.classList.toggle("incomplete", !!n.incomplete);
    const ctx = this.cb.rowContext(n);
    if (ctx) el.dataset.vscodeContext = JSON.stringify(ctx);
    else delete el.dataset.vscodeContext;
    el.title = `${n.name}${n.type ? ` : ${n.type}` : ""}\n${n.kind} · offset 0x${n.start.toString(16)} · ${n.end - n.start} bytes`;

    const indent = document.createElement("span");
    indent.className = "indent";
    indent.style.width = `${row.depth * 12 + 4}px`;
    const twistie = document.createElement("span");
    const open = this.filterRows ? true : this.expanded.has(n.id);
    twistie.className = n.hasChildren ? `twistie codicon codicon-chevron-${open ? "down" : "right"}` : "twistie";
    const icon = document.createElement("span");
    icon.className = `kind codicon codicon-${kindIcon(n.kind)}`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = n.name;
    const parts: Node[] = [indent, twistie, icon, name];
    if (n.detail) {
      const d = document.createElement("span");
      d.className = "detail";
      d.textContent = n.detail;
      parts.push(d);
    }
    // compare view: how the node differs, and how many differences it holds
    el.classList.toggle("mark-changed", n.mark === "changed");
    el.classList.toggle("mark-only-a", n.mark === "only-a");
    el.classList.toggle("mark-only-b", n.mark === "only-b");
    if (n.mark && n.mark !== "same") {
      const m = document.createElement("span");
      m.className = `mark mark-${n.mark}`;
      const letter = n.mark === "changed" ? "M" : n.mark === "only-a" ? "A" : "B";
      m.textContent = n.markCount && n.markCount > 1 ? `${n.markCount.toLocaleString("en-US")} ${letter}` : letter;
      m.title =
        n.mark === "changed"
          ? `${n.markCount ?? 1} difference(s) here`
          : n.mark === "only-a"
            ? "only in A"
            : "only in B";
      parts.push(m);
    }
    if (n.severity) {
      const s = document.createElement("span");
      s.className = `sev sev-${n.severity} codicon codicon-${severityIcon(n.severity)}`;
      s.title = n.diagCount ? `${n.diagCount} diagnostic(s) on this node` : `${n.severity} inside`;
      parts.push(s);
    }
    el.replaceChildren(...parts);
  }

  private onClick(e: MouseEvent): void {
    const rowEl = (e.target as HTMLElement).closest<HTMLElement>(".tree-row");
    if (!rowEl?.dataset.id) return;
    const id = rowEl.dataset.id;
    const onTwistie = (e.target as HTMLElement).classList.contains("twistie");
    if (onTwistie || (e.detail === 2 && !this.filterRows)) void this.toggle(id);
    if (!onTwistie) this.select(id, "user");
    this.element.focus({ preventScroll: true });
  }

  private async toggle(id: string): Promise<void> {
    if (this.filterRows) return;
    if (this.expanded.has(id)) this.collapse(id);
    else await this.expand(id);
  }

  private onKey(e: KeyboardEvent): void {
    const rows = this.activeRows;
    if (!rows.length) return;
    let i = rows.findIndex((r) => r.id === this.selected);
    const page = Math.max(1, Math.floor(this.element.clientHeight / TREE_ROW_HEIGHT) - 1);
    const cur = i >= 0 ? this.nodes.get(rows[i]!.id) : undefined;
    switch (e.key) {
      case "ArrowDown":
        i = Math.min(rows.length - 1, i + 1);
        break;
      case "ArrowUp":
        i = Math.max(0, i - 1);
        break;
      case "PageDown":
        i = Math.min(rows.length - 1, i + page);
        break;
      case "PageUp":
        i = Math.max(0, i - page);
        break;
      case "Home":
        i = 0;
        break;
      case "End":
        i = rows.length - 1;
        break;
      case "ArrowRight":
        if (cur?.hasChildren && !this.filterRows) {
          if (!this.expanded.has(cur.id)) void this.expand(cur.id);
          else if (rows[i + 1]) i = i + 1;
        }
        break;
      case "ArrowLeft":
        if (cur && !this.filterRows) {
          if (this.expanded.has(cur.id)) this.collapse(cur.id);
          else {
            const p = this.parent.get(cur.id);
            if (p) i = rows.findIndex((r) => r.id === p);
          }
        }
        break;
      case "Enter":
      case " ":
        if (cur) void this.toggle(cur.id);
        break;
      default:
        return;
    }
    e.preventDefault();
    const target = rows[Math.max(0, i)];
    if (target && target.id !== this.selected) this.select(target.id, "user");
  }
}

/** What each pooled row element shows (TreeView.paintRow). */
const painted = new WeakMap<HTMLElement, { node: NodeDto; key: string }>();

function cssId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, (c) => "_" + c.charCodeAt(0).toString(16));
}
