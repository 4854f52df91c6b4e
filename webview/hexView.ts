// The hex view: offset / hex / ASCII columns over a file of any size. Rows are virtual (only
// those on screen exist), bytes come in 64 KiB pages from the extension host through a small
// LRU, and the scrollbar is scaled because browsers cap element heights (~33M px).

export const HEX_ROW_HEIGHT = 20;
export const BYTES_PER_ROW = 16;
const PAGE_SIZE = 64 * 1024;
const MAX_PAGES = 48;
/** Tallest spacer we let the browser lay out; bigger files scale the scrollbar. */
const MAX_SPACER_PX = 4_000_000;

export interface HexCallbacks {
  readPage(offset: number, length: number): Promise<ArrayBuffer>;
  onByteClick(offset: number): void;
  onScroll(): void;
}

export class HexView {
  readonly element: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly body: HTMLElement;
  private size = 0;
  private top = 0; // first visible row
  private pages = new Map<number, Uint8Array>();
  private pending = new Set<number>();
  private rowEls: HTMLElement[] = [];
  private highlight?: { start: number; end: number; valueStart?: number; valueEnd?: number };
  private cursor?: number;
  private ignoreScroll = false;
  private renderQueued = false;
  private offsetDigits = 8;

  constructor(private readonly cb: HexCallbacks) {
    this.element = document.createElement("div");
    this.element.className = "hex";
    const header = document.createElement("div");
    header.className = "hex-header hex-line";
    header.setAttribute("aria-hidden", "true");
    this.scroller = document.createElement("div");
    this.scroller.className = "hex-scroller";
    this.scroller.tabIndex = 0;
    this.scroller.setAttribute("role", "grid");
    this.scroller.setAttribute("aria-label", "Hex view");
    this.spacer = document.createElement("div");
    this.spacer.className = "hex-spacer";
    this.body = document.createElement("div");
    this.body.className = "hex-body";
    this.scroller.append(this.body, this.spacer);
    this.element.append(header, this.scroller);
    this.paintHeader(header);
    this.scroller.addEventListener("scroll", () => this.onNativeScroll());
    this.scroller.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    this.scroller.addEventListener("keydown", (e) => this.onKey(e));
    this.body.addEventListener("mousedown", (e) => this.onMouse(e));
    new ResizeObserver(() => {
      this.layoutSpacer();
      this.top = Math.min(this.top, this.maxTop());
      this.syncScrollbar();
      this.render();
    }).observe(this.scroller);
  }

  private paintHeader(h: HTMLElement): void {
    const off = document.createElement("span");
    off.className = "hex-off";
    off.textContent = "Offset".padEnd(this.offsetDigits, " ");
    const hex = document.createElement("span");
    hex.className = "hex-bytes";
    for (let i = 0; i < BYTES_PER_ROW; i++) {
      const s = document.createElement("span");
      s.className = "hb" + (i === 8 ? " gap" : "");
      s.textContent = i.toString(16).toUpperCase().padStart(2, "0");
      hex.append(s);
    }
    const asc = document.createElement("span");
    asc.className = "hex-ascii";
    asc.textContent = "ASCII";
    h.replaceChildren(off, hex, asc);
  }

  setSize(size: number): void {
    this.size = size;
    this.pages.clear();
    this.pending.clear();
    this.offsetDigits = Math.max(8, (Math.max(size, 1) - 1).toString(16).length);
    this.paintHeader(this.element.querySelector(".hex-header")!);
    this.layoutSpacer();
    this.top = Math.min(this.top, this.maxTop());
    this.syncScrollbar();
    this.render();
  }

  /** Drops cached bytes (the document changed). */
  invalidate(): void {
    this.pages.clear();
    this.pending.clear();
    this.render();
  }

  /**
   * After an edit, undo or redo: drops only the cached pages over `changed` bytes, and puts in the
   * new bytes the extension host sent for them (whole pages), so the rest of the view stays as is.
   */
  patch(
    size: number,
    changed: { start: number; end: number } | undefined,
    bytes?: { offset: number; data: ArrayBuffer },
  ): void {
    if (size !== this.size) {
      this.size = size;
      this.offsetDigits = Math.max(8, (Math.max(size, 1) - 1).toString(16).length);
      this.paintHeader(this.element.querySelector(".hex-header")!);
      this.layoutSpacer();
      this.top = Math.min(this.top, this.maxTop());
      this.syncScrollbar();
    }
    if (changed) {
      const first = Math.floor(changed.start / PAGE_SIZE);
      const last = Math.floor((Math.max(changed.end, changed.start + 1) - 1) / PAGE_SIZE);
      for (const p of [...this.pages.keys()]) if (p >= first && p <= last) this.pages.delete(p);
      for (const p of [...this.pending]) if (p >= first && p <= last) this.pending.delete(p);
    }
    if (bytes && bytes.offset % PAGE_SIZE === 0) {
      const data = new Uint8Array(bytes.data);
      for (let at = 0; at < data.length; at += PAGE_SIZE) {
        const p = (bytes.offset + at) / PAGE_SIZE;
        const n = Math.min(PAGE_SIZE, this.size - p * PAGE_SIZE);
        if (at + n <= data.length) this.pages.set(p, data.slice(at, at + n));
      }
    }
    this.render();
  }

  /** Bytes on screen (from topOffset). */
  get visibleBytes(): number {
    return (this.viewRows + 1) * BYTES_PER_ROW;
  }

  get topRow(): number {
    return this.top;
  }

  get topOffset(): number {
    return this.top * BYTES_PER_ROW;
  }

  get highlightRange(): { start: number; end: number } | undefined {
    return this.highlight ? { start: this.highlight.start, end: this.highlight.end } : undefined;
  }

  private get totalRows(): number {
    return Math.ceil(this.size / BYTES_PER_ROW);
  }

  private get viewRows(): number {
    return Math.max(1, Math.floor((this.scroller.clientHeight || 400) / HEX_ROW_HEIGHT));
  }

  private maxTop(): number {
    return Math.max(0, this.totalRows - this.viewRows);
  }

  private spacerHeight(): number {
    return Math.min(this.totalRows * HEX_ROW_HEIGHT, MAX_SPACER_PX);
  }

  /** The body (viewport-sized, sticky) plus the spacer make the scrollable height. */
  private layoutSpacer(): void {
    const h = this.scroller.clientHeight;
    this.body.style.height = `${h}px`;
    this.spacer.style.height = `${Math.max(0, this.spacerHeight() - h)}px`;
  }

  /** Maps the first visible row to scrollTop; linear, scaled when the file is too tall. */
  private syncScrollbar(): void {
    const range = this.spacerHeight() - this.scroller.clientHeight;
    const maxTop = this.maxTop();
    const st = maxTop <= 0 || range <= 0 ? 0 : Math.round((this.top / maxTop) * range);
    if (Math.abs(this.scroller.scrollTop - st) >= 1) {
      this.ignoreScroll = true;
      this.scroller.scrollTop = st;
    }
  }

  private onNativeScroll(): void {
    if (this.ignoreScroll) {
      this.ignoreScroll = false;
      this.render();
      return;
    }
    const range = this.spacerHeight() - this.scroller.clientHeight;
    const maxTop = this.maxTop();
    this.top = range <= 0 ? 0 : Math.round((this.scroller.scrollTop / range) * maxTop);
    this.queueRender();
    this.cb.onScroll();
  }

  private onWheel(e: WheelEvent): void {
    // Wheel scrolls by rows whatever the scale, so a 1 GB file scrolls as smoothly as a small one.
    if (e.ctrlKey) return;
    e.preventDefault();
    const px =
      e.deltaMode === 1
        ? e.deltaY * HEX_ROW_HEIGHT
        : e.deltaMode === 2
          ? e.deltaY * this.scroller.clientHeight
          : e.deltaY;
    const rows = px > 0 ? Math.max(1, Math.round(px / HEX_ROW_HEIGHT)) : Math.min(-1, Math.round(px / HEX_ROW_HEIGHT));
    this.scrollToRow(this.top + rows);
  }

  scrollToRow(row: number): void {
    this.top = Math.max(0, Math.min(this.maxTop(), Math.floor(row)));
    this.syncScrollbar();
    this.queueRender();
    this.cb.onScroll();
  }

  /** Scrolls so that an offset is on screen (a few rows below the top when it was not). */
  revealOffset(offset: number, force = false): void {
    const row = Math.floor(offset / BYTES_PER_ROW);
    if (!force && row >= this.top && row < this.top + this.viewRows - 1) return;
    this.scrollToRow(row - Math.min(3, Math.floor(this.viewRows / 4)));
  }

  setHighlight(
    h: { start: number; end: number; valueStart?: number; valueEnd?: number } | undefined,
    scroll: boolean,
  ): void {
    this.highlight = h;
    if (h && scroll) {
      const endRow = Math.floor(Math.max(h.start, h.end - 1) / BYTES_PER_ROW);
      const startRow = Math.floor(h.start / BYTES_PER_ROW);
      const visible = startRow >= this.top && endRow < this.top + this.viewRows;
      if (!visible) this.revealOffset(h.start, true);
    }
    this.queueRender();
  }

  setCursor(offset: number | undefined): void {
    this.cursor = offset;
    this.queueRender();
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  private byteAt(offset: number): number | undefined {
    const p = Math.floor(offset / PAGE_SIZE);
    const page = this.pages.get(p);
    if (!page) {
      this.fetch(p);
      return undefined;
    }
    return page[offset - p * PAGE_SIZE];
  }

  private fetch(p: number): void {
    if (this.pending.has(p) || p * PAGE_SIZE >= this.size) return;
    this.pending.add(p);
    this.cb.readPage(p * PAGE_SIZE, Math.min(PAGE_SIZE, this.size - p * PAGE_SIZE)).then(
      (buf) => {
        this.pending.delete(p);
        this.pages.set(p, new Uint8Array(buf));
        while (this.pages.size > MAX_PAGES) {
          // Evict the page farthest from the view.
          const here = Math.floor(this.topOffset / PAGE_SIZE);
          let far = -1;
          let dist = -1;
          for (const k of this.pages.keys()) if (Math.abs(k - here) > dist) [far, dist] = [k, Math.abs(k - here)];
          this.pages.delete(far);
        }
        this.queueRender();
      },
      () => this.pending.delete(p),
    );
  }

  render(): void {
    const rows = Math.min(this.viewRows + 1, Math.max(0, this.totalRows - this.top));
    while (this.rowEls.length < rows) {
      const r = document.createElement("div");
      r.className = "hex-line hex-row";
      r.setAttribute("role", "row");
      const off = document.createElement("span");
      off.className = "hex-off";
      const hex = document.createElement("span");
      hex.className = "hex-bytes";
      const asc = document.createElement("span");
      asc.className = "hex-ascii";
      for (let i = 0; i < BYTES_PER_ROW; i++) {
        const b = document.createElement("span");
        b.className = "hb";
        hex.append(b);
        const a = document.createElement("span");
        a.className = "ha";
        asc.append(a);
      }
      r.append(off, hex, asc);
      this.body.append(r);
      this.rowEls.push(r);
    }
    // The body sticks to the viewport (position: sticky), so rows sit at fixed y's.
    const h = this.highlight;
    for (let i = 0; i < this.rowEls.length; i++) {
      const r = this.rowEls[i]!;
      if (i >= rows) {
        r.hidden = true;
        continue;
      }
      // only what differs is written: after an edit most cells are unchanged, and every write
      // would make the browser restyle the row
      if (r.hidden) r.hidden = false;
      const base = (this.top + i) * BYTES_PER_ROW;
      setData(r, "offset", String(base));
      setText(r.children[0] as HTMLElement, base.toString(16).toUpperCase().padStart(this.offsetDigits, "0"));
      const hexEls = r.children[1]!.children;
      const ascEls = r.children[2]!.children;
      for (let j = 0; j < BYTES_PER_ROW; j++) {
        const o = base + j;
        const hb = hexEls[j] as HTMLElement;
        const ha = ascEls[j] as HTMLElement;
        let cls = j === 8 ? "hb gap" : "hb";
        let acls = "ha";
        if (o >= this.size) {
          setText(hb, "  ");
          setText(ha, " ");
          setClass(hb, cls + " past");
          setClass(ha, acls + " past");
          continue;
        }
        const v = this.byteAt(o);
        if (v === undefined) {
          setText(hb, "··");
          setText(ha, "·");
          cls += " loading";
        } else {
          setText(hb, HEX[v]!);
          setText(ha, v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : ".");
          if (v === 0) cls += " zero";
          else if (v < 0x20 || v >= 0x7f) acls += " np";
        }
        if (h && o >= h.start && o < h.end) {
          const inValue = h.valueStart !== undefined && o >= h.valueStart && o < h.valueEnd!;
          cls += inValue ? " sel val" : " sel";
          acls += inValue ? " sel val" : " sel";
          if (o === h.start) cls += " sel-first";
          if (o === h.end - 1) cls += " sel-last";
        }
        if (o === this.cursor) {
          cls += " cursor";
          acls += " cursor";
        }
        setClass(hb, cls);
        setClass(ha, acls);
        setData(hb, "o", String(o));
        setData(ha, "o", String(o));
      }
    }
  }

  private onMouse(e: MouseEvent): void {
    if (e.button !== 0) return;
    const t = (e.target as HTMLElement).closest<HTMLElement>("[data-o]");
    if (!t?.dataset.o) return;
    const o = Number(t.dataset.o);
    if (o >= this.size) return;
    this.cursor = o;
    this.scroller.focus({ preventScroll: true });
    this.cb.onByteClick(o);
    this.queueRender();
  }

  private onKey(e: KeyboardEvent): void {
    const page = Math.max(1, this.viewRows - 1);
    let c = this.cursor;
    switch (e.key) {
      case "PageDown":
        this.scrollToRow(this.top + page);
        if (c !== undefined) c = Math.min(this.size - 1, c + page * BYTES_PER_ROW);
        break;
      case "PageUp":
        this.scrollToRow(this.top - page);
        if (c !== undefined) c = Math.max(0, c - page * BYTES_PER_ROW);
        break;
      case "Home":
        if (e.ctrlKey || c === undefined) {
          this.scrollToRow(0);
          c = 0;
        } else c -= c % BYTES_PER_ROW;
        break;
      case "End":
        if (e.ctrlKey || c === undefined) {
          this.scrollToRow(this.totalRows);
          c = this.size - 1;
        } else c = Math.min(this.size - 1, c - (c % BYTES_PER_ROW) + BYTES_PER_ROW - 1);
        break;
      case "ArrowDown":
        c = Math.min(this.size - 1, (c ?? this.topOffset - BYTES_PER_ROW) + BYTES_PER_ROW);
        break;
      case "ArrowUp":
        c = Math.max(0, (c ?? this.topOffset + BYTES_PER_ROW) - BYTES_PER_ROW);
        break;
      case "ArrowRight":
        c = Math.min(this.size - 1, (c ?? this.topOffset - 1) + 1);
        break;
      case "ArrowLeft":
        c = Math.max(0, (c ?? this.topOffset + 1) - 1);
        break;
      case "Enter":
        if (c !== undefined) this.cb.onByteClick(c);
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    if (c !== undefined && c !== this.cursor) {
      this.cursor = c;
      this.revealOffset(c);
      this.queueRender();
    }
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));

function setText(e: HTMLElement, t: string): void {
  if (e.textContent !== t) e.textContent = t;
}
function setClass(e: HTMLElement, c: string): void {
  if (e.className !== c) e.className = c;
}
function setData(e: HTMLElement, k: string, v: string): void {
  if (e.dataset[k] !== v) e.dataset[k] = v;
}
