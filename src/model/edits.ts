// Structural edits of a decoded stream. Each edit becomes overrides of a few nodes' bytes; the
// encoder writes everything else from the tree, so the stream stays valid and the rest identical.
//
// The rules of editing live here, beside applyEdit: what can be edited and how (editInfo, which
// the editor's details show and applyEdit enforces), what QEMU would refuse afterwards
// (editWarnings), and the edit that undoes one (inverseOf). checkEdit finds what an edit changes
// once and hands it to the rest, so an edit goes editor -> model -> format once.
import { copiedWhole, encodeLeaf, encodeStream, type Chunk } from "../format/encode";
import { DBUS_VMSTATE_ID_MAX, DBUS_VMSTATE_SIZE_LIMIT } from "../format/dbusVmstate";
import type { ByteSource, DecodedStream, Enc, HelperInfo, VNode } from "../format/types";
import type { FieldEditInfo } from "../shared/protocol";

export type Edit =
  /** Replace the blob of the helper entry at `index` (its Id is `id`). */
  | { type: "helper-set"; index: number; id: string; bytes: Uint8Array }
  | { type: "helper-add"; id: string; bytes: Uint8Array }
  | { type: "helper-remove"; index: number; id: string }
  | { type: "helper-rename"; index: number; id: string; newId: string }
  /** Set an integer or bool field; `value` as typed by a person: 42, -1, 0x1f, true. */
  | { type: "field-set"; nodeId: string; value: string }
  /** Replace the bytes of a raw field or an opaque payload, keeping its length. */
  | { type: "bytes-set"; nodeId: string; bytes: Uint8Array };

/** An edit that cannot be applied at all (the stream has no such helper, a value out of range…). */
export class EditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EditError";
  }
}

const utf8 = new TextEncoder();

export function editLabel(e: Edit): string {
  switch (e.type) {
    case "helper-set":
      return `Replace blob of helper "${e.id}" (${e.bytes.length} bytes)`;
    case "helper-add":
      return `Add helper "${e.id}" (${e.bytes.length} bytes)`;
    case "helper-remove":
      return `Remove helper "${e.id}"`;
    case "helper-rename":
      return `Rename helper "${e.id}" to "${e.newId}"`;
    case "field-set":
      return `Set ${e.nodeId.split("/").slice(1).join("/") || e.nodeId} to ${e.value}`;
    case "bytes-set":
      return `Replace ${e.bytes.length} bytes of ${e.nodeId}`;
  }
}

/** The node `id` and its ancestors below `root`, outermost first; undefined when there is no such node. */
function findPath(root: VNode, id: string): VNode[] | undefined {
  const path: VNode[] = [];
  for (let n: VNode | undefined = root; n;) {
    if (n.id === id) return path.concat(n === root ? [] : [n]);
    if (n !== root) path.push(n);
    n = (n.children ?? []).find((c) => id === c.id || id.startsWith(c.id + "/"));
  }
  return undefined;
}

export function findNode(root: VNode, id: string): VNode | undefined {
  // ids are paths: only descend into children whose id prefixes the one we look for
  const stack: VNode[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.id === id) return n;
    for (const c of n.children ?? []) if (n === root || id === c.id || id.startsWith(c.id + "/")) stack.push(c);
  }
  return undefined;
}

export interface DbusParts {
  data: VNode;
  dataSize: VNode;
  entries: HelperInfo[];
}

function dbusParts(d: DecodedStream): DbusParts {
  let found: { data: VNode; parent: VNode } | undefined;
  const walk = (n: VNode) => {
    for (const c of n.children ?? []) {
      if (found) return;
      if (c.kind === "dbus-data") found = { data: c, parent: n };
      else walk(c);
    }
  };
  walk(d.root);
  if (!found) throw new EditError("this stream has no dbus-vmstate section to edit");
  const { data, parent } = found;
  if (data.incomplete)
    throw new EditError(
      "the dbus-vmstate section did not decode completely; fix or remove what the diagnostics name first",
    );
  const dataSize = parent.children!.find((c) => c.name === "data_size" && c.enc === "u32");
  if (!dataSize) throw new EditError("the dbus-vmstate section has no data_size field");
  return { data, dataSize, entries: d.helpers.filter((h) => h.nodeId.startsWith(data.id + "/")) };
}

/** The dbus-vmstate `data` node next to a `data_size` field node, if `n` is that field. */
function dbusDataFor(d: DecodedStream, n: VNode): VNode | undefined {
  const parentId = n.id.slice(0, n.id.lastIndexOf("/"));
  const parent = findNode(d.root, parentId);
  if (!parent || !(parent.name.startsWith("dbus-vmstate") || parent.info?.handler === "dbus-builtin")) return undefined;
  return parent.children?.find((c) => c.name === "data" && (c.kind === "dbus-data" || c.kind === "field"));
}

function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

interface NewEntry {
  idBytes: Uint8Array;
  blob: Chunk;
  size: number;
}

/**
 * Problems QEMU would have with the result: the caller asks before going ahead. `target`: what
 * the edit changes when the caller has found it already (checkEdit).
 */
export function editWarnings(d: DecodedStream, e: Edit, target?: EditTarget): string[] {
  const w: string[] = [];
  const checkId = (id: string) => {
    const n = utf8.encode(id).length;
    if (n === 0) w.push("an empty helper Id: QEMU rejects it");
    if (n > DBUS_VMSTATE_ID_MAX)
      w.push(
        `a helper Id of ${n} bytes: QEMU accepts at most ${DBUS_VMSTATE_ID_MAX} ("Invalid DBus vmstate proxy name")`,
      );
  };
  const checkBlob = (size: number) => {
    if (size > DBUS_VMSTATE_SIZE_LIMIT)
      w.push(`a blob of ${size} bytes: QEMU loads at most ${DBUS_VMSTATE_SIZE_LIMIT} ("Invalid vmstate size")`);
    if (size === 0) w.push("an empty blob: QEMU cannot migrate an empty helper state");
  };
  const others = (skip: number) => d.helpers.filter((_, i) => i !== skip).map((h) => h.id);
  switch (e.type) {
    case "helper-set":
      checkBlob(e.bytes.length);
      break;
    case "helper-add":
      checkId(e.id);
      checkBlob(e.bytes.length);
      if (others(-1).includes(e.id))
        w.push(`a second helper with Id "${e.id}": QEMU requires unique Ids ("Duplicated VMState Id")`);
      break;
    case "helper-rename":
      checkId(e.newId);
      if (others(e.index).includes(e.newId)) w.push(`a second helper with Id "${e.newId}": QEMU requires unique Ids`);
      break;
    case "field-set": {
      const n = target?.kind === "node" ? target.node : findNode(d.root, e.nodeId);
      if (n?.type && / equal$/.test(n.type))
        w.push(
          `${n.name} is checked by QEMU (${n.type}): the destination refuses the stream unless its own value is the same`,
        );
      if (n?.type === "int32 le")
        w.push(`${n.name} is checked by QEMU (int32 le): the destination refuses a value above its own`);
      const data = n?.name === "data_size" ? dbusDataFor(d, n) : undefined;
      if (n && data) {
        const len = data.span.end - data.span.start;
        let v: number | undefined;
        try {
          v = Number(parseValue(n.enc ?? "u32", e.value));
        } catch {
          /* applyEdit reports the bad value */
        }
        if (v !== undefined && v !== len)
          w.push(
            `dbus-vmstate data_size ${v} while the data is ${len} bytes: QEMU reads data_size bytes and fails ("Unexpected early end-of-stream"); change the helpers instead (set-helper re-frames the section)`,
          );
      }
      break;
    }
    case "bytes-set":
      break;
  }
  return w;
}

/** Value ranges of the integer encodings (shared with the editor's inline range hints). */
export const INT_RANGES: Partial<Record<Enc, [bigint, bigint]>> = {
  u8: [0n, 0xffn],
  i8: [-0x80n, 0x7fn],
  u16: [0n, 0xffffn],
  i16: [-0x8000n, 0x7fffn],
  u32: [0n, 0xffffffffn],
  i32: [-0x80000000n, 0x7fffffffn],
  u64: [0n, 0xffffffffffffffffn],
  i64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

/** Parse a typed-in value for a leaf of encoding `enc`, with range checks. */
export function parseValue(enc: Enc, text: string): number | bigint | boolean {
  const t = text.trim().toLowerCase();
  if (enc === "bool") {
    if (t === "true" || t === "1") return true;
    if (t === "false" || t === "0") return false;
    throw new EditError(`"${text}" is not a bool (true/false)`);
  }
  const range = INT_RANGES[enc];
  if (!range) throw new EditError(`fields of this kind (${enc}) cannot be set as a number`);
  if (!/^-?(0x[0-9a-f]+|0b[01]+|0o[0-7]+|\d+)$/.test(t)) throw new EditError(`"${text}" is not an integer`);
  const neg = t.startsWith("-");
  let v = BigInt(neg ? t.slice(1) : t);
  if (neg) v = -v;
  if (v < range[0] || v > range[1])
    throw new EditError(`${text} is out of range for ${enc} (${range[0]} … ${range[1]})`);
  return enc === "u64" || enc === "i64" ? v : Number(v);
}

/** True for ids of the stream's framing (section headers, lengths: `$` segments); edits change sections, not these. */
function isFraming(id: string): boolean {
  return id.split("/").some((s) => s.startsWith("$"));
}

/** The helper entry (or a part of one) `id` names: those change through the helper edits, which re-frame the section. */
function inHelperEntry(d: DecodedStream, id: string): boolean {
  return d.helpers.some((h) => id === h.nodeId || id.startsWith(h.nodeId + "/"));
}

/**
 * How node `n` of `d` can be edited, when it can: a leaf with an integer or bool encoding is set
 * from typed text (range-checked), a leaf without one whose bytes are replaced at the same length
 * (a raw field, an opaque payload, an element). Never the framing (`$` ids), lazily made nodes
 * (RAM pages), what did not decode completely or lies inside a node the encoder copies as it is
 * (`ancestors`, outermost first), padding and unparsed bytes, or helper entries (their own edits re-frame the section).
 * The editor offers what this allows; applyEdit refuses what it does not.
 */
export function editInfo(d: DecodedStream, n: VNode, ancestors: readonly VNode[] = []): FieldEditInfo | undefined {
  // the encoder copies some nodes as they are (copiedWhole): nothing inside them can change
  if (n.children?.length || n.lazy || n.incomplete || ancestors.some(copiedWhole)) return undefined;
  if (isFraming(n.id)) return undefined;
  if (n.kind === "helper" || n.kind === "dbus-data" || n.kind === "padding" || n.kind === "unparsed") return undefined;
  if (inHelperEntry(d, n.id)) return undefined;
  if (n.enc === "bool") return { kind: "bool" };
  const r = n.enc ? INT_RANGES[n.enc] : undefined;
  if (r && n.enc) return { kind: "integer", enc: n.enc, min: r[0].toString(), max: r[1].toString() };
  if (!n.enc && (n.kind === "field" || n.kind === "opaque" || n.kind === "element") && n.span.end > n.span.start)
    return { kind: "bytes", length: n.span.end - n.span.start };
  return undefined;
}

/**
 * What an edit changes, found once in the stream it applies to (checkEdit) and handed to
 * editWarnings, inverseOf and applyEdit: the node of a field or bytes edit, the dbus-vmstate
 * section's parts for a helper edit.
 */
export type EditTarget = { kind: "node"; node: VNode; info: FieldEditInfo } | { kind: "helpers"; parts: DbusParts };

/** Finds what `e` changes in `d`; throws EditError when `d` has no such thing or it cannot be edited so. */
export function editTarget(d: DecodedStream, e: Edit): EditTarget {
  if (e.type !== "field-set" && e.type !== "bytes-set") return { kind: "helpers", parts: dbusParts(d) };
  const path = findPath(d.root, e.nodeId);
  const n = path?.pop();
  if (!path || !n) throw new EditError(`no ${e.type === "field-set" ? "field" : "node"} ${e.nodeId} in this stream`);
  if (isFraming(n.id)) throw new EditError(`${n.name} is part of the stream's framing; edit the section instead`);
  if (inHelperEntry(d, n.id))
    throw new EditError(
      `${n.name} is part of a helper entry; change the helper instead (the helper edits re-frame the section)`,
    );
  const broken = path.find(copiedWhole);
  if (broken)
    throw new EditError(
      `${n.name} is inside ${broken.name}, which did not decode completely; fix or remove what the diagnostics name first`,
    );
  const info = editInfo(d, n, path);
  if (e.type === "field-set" && (!info || info.kind === "bytes"))
    throw new EditError(`${n.name} is not an integer or bool field`);
  if (e.type === "bytes-set" && info?.kind !== "bytes") throw new EditError(`${n.name} is not a raw field or payload`);
  return { kind: "node", node: n, info: info! };
}

/**
 * The chunks of the stream after `e`, as copies of spans of the stream `d` was decoded from and
 * new bytes. `target`: what `e` changes, when found already (checkEdit); else found here.
 */
export function applyEdit(d: DecodedStream, e: Edit, target: EditTarget = editTarget(d, e)): Chunk[] {
  const overrides = new Map<string, Chunk[]>();
  if (target.kind === "helpers") helperOverrides(d, e, target.parts, overrides);
  else if (e.type === "field-set") {
    const n = target.node;
    const value = parseValue(n.enc!, e.value);
    const b = encodeLeaf({ ...n, value, info: undefined });
    overrides.set(n.id, [{ bytes: b! }]);
  } else if (e.type === "bytes-set") {
    const n = target.node;
    const len = n.span.end - n.span.start;
    if (e.bytes.length !== len)
      throw new EditError(
        `${n.name} is ${len} bytes; the replacement is ${e.bytes.length} (the length must stay the same)`,
      );
    overrides.set(n.id, [{ bytes: e.bytes }]);
  } else throw new EditError("a helper edit needs the dbus-vmstate section");
  return encodeStream(d.root, overrides);
}

/**
 * The edit that takes the stream after `e` back to `d`, whose bytes `src` holds (VS Code's undo
 * across a save, when the edit list no longer starts from the file on disk). Removing a helper is
 * undone by adding it again, at the end of the list. Undefined when `e` cannot be reversed so.
 */
export function inverseOf(d: DecodedStream, src: ByteSource, e: Edit, target?: EditTarget): Edit | undefined {
  // exact-size copies: the source may reuse the buffers it returns
  const bytesOf = (start: number, end: number) => new Uint8Array(src.read(start, end - start));
  const node = () =>
    target?.kind === "node"
      ? target.node
      : findNode(d.root, e.type === "field-set" || e.type === "bytes-set" ? e.nodeId : "");
  switch (e.type) {
    case "helper-set": {
      const h = d.helpers[e.index];
      return h && { type: "helper-set", index: e.index, id: e.id, bytes: bytesOf(h.blob.start, h.blob.end) };
    }
    case "helper-add":
      return { type: "helper-remove", index: d.helpers.length, id: e.id };
    case "helper-remove": {
      const h = d.helpers[e.index];
      return h && { type: "helper-add", id: e.id, bytes: bytesOf(h.blob.start, h.blob.end) };
    }
    case "helper-rename":
      return { type: "helper-rename", index: e.index, id: e.newId, newId: e.id };
    case "field-set": {
      const v = node()?.value;
      if (v === undefined || v instanceof Uint8Array || typeof v === "string") return undefined;
      return { type: "field-set", nodeId: e.nodeId, value: String(v) };
    }
    case "bytes-set": {
      const n = node();
      return n && { type: "bytes-set", nodeId: e.nodeId, bytes: bytesOf(n.span.start, n.span.end) };
    }
  }
}

/** An edit checked against the stream it applies to (checkEdit). */
export interface CheckedEdit {
  edit: Edit;
  /** What it changes, found once: StreamModel.apply hands it to applyEdit. */
  target: EditTarget;
  /** What QEMU would refuse after it (editWarnings): the caller confirms before applying. */
  warnings: string[];
  /** The edit that undoes it (inverseOf), when there is one. */
  inverse?: Edit;
}

/**
 * Everything the editor needs before applying `e` to `d` (read from `src`), with what it changes
 * found once: throws EditError when it cannot be applied at all (no such node, a value out of
 * range), else gives the warnings to confirm and the inverse edit.
 */
export function checkEdit(d: DecodedStream, src: ByteSource, e: Edit): CheckedEdit {
  const target = editTarget(d, e);
  if (e.type === "field-set" && target.kind === "node") parseValue(target.node.enc!, e.value);
  const inverse = inverseOf(d, src, e, target);
  return { edit: e, target, warnings: editWarnings(d, e, target), ...(inverse ? { inverse } : {}) };
}

function helperOverrides(d: DecodedStream, e: Edit, parts: DbusParts, overrides: Map<string, Chunk[]>): void {
  const { data, dataSize, entries } = parts;
  const list: NewEntry[] = entries.map((h) => ({ idBytes: h.idBytes, blob: { copy: h.blob }, size: h.size }));
  const at = (index: number, id: string) => {
    const h = entries[index];
    if (!h || h.id !== id) throw new EditError(`no helper "${id}" at entry ${index}`);
    return index;
  };
  switch (e.type) {
    case "helper-set":
      list[at(e.index, e.id)] = { ...list[e.index]!, blob: { bytes: e.bytes }, size: e.bytes.length };
      break;
    case "helper-add":
      list.push({ idBytes: utf8.encode(e.id), blob: { bytes: e.bytes }, size: e.bytes.length });
      break;
    case "helper-remove":
      list.splice(at(e.index, e.id), 1);
      break;
    case "helper-rename":
      list[at(e.index, e.id)] = { ...list[e.index]!, idBytes: utf8.encode(e.newId) };
      break;
    default:
      throw new EditError("not a helper edit");
  }
  // backends/dbus-vmstate.c framing: be32 count, then (be32 id_len, Id, be32 size, blob)*
  const chunks: Chunk[] = [{ bytes: u32(list.length) }];
  let used = 4;
  for (const x of list) {
    if (x.size > 0xffffffff || x.idBytes.length > 0xffffffff) throw new EditError("helper entry too large");
    chunks.push({ bytes: u32(x.idBytes.length) }, { bytes: x.idBytes }, { bytes: u32(x.size) }, x.blob);
    used += 8 + x.idBytes.length + x.size;
  }
  // keep QEMU's allocated size (zero padding) when the entries still fit; the loader ignores it
  const oldSize = data.span.end - data.span.start;
  const newSize = used <= oldSize ? oldSize : used;
  if (newSize > used) chunks.push({ bytes: new Uint8Array(newSize - used) });
  if (newSize > 0xffffffff) throw new EditError("the dbus-vmstate data would exceed 4 GiB");
  overrides.set(data.id, chunks);
  overrides.set(dataSize.id, [{ bytes: u32(newSize) }]);
  if (newSize !== oldSize) vmdescOverrides(d, newSize, overrides);
}

/** Update the vmdesc's `data` size for dbus-vmstate in place, leaving every other byte of the JSON as it was. */
function vmdescOverrides(d: DecodedStream, newSize: number, overrides: Map<string, Chunk[]>): void {
  const node = d.root.children!.find((n) => n.kind === "vmdesc");
  if (!node || !d.vmdesc) return; // no vmdesc: nothing describes the size
  const json = node.children!.find((c) => c.id === "vmdesc/json");
  const len = node.children!.find((c) => c.id === "vmdesc/$length");
  if (!json || !len) throw new EditError("the vmdesc did not decode completely");
  const text = d.vmdescText ?? "";
  const dev = text.indexOf('"name": "dbus-vmstate/dbus-vmstate"');
  const re = /("name":\s*"data",\s*"type":\s*"buffer",\s*"size":\s*)(\d+)/g;
  re.lastIndex = Math.max(0, dev);
  const m = dev >= 0 ? re.exec(text) : null;
  if (!m) throw new EditError("the vmdesc has no dbus-vmstate data entry to update");
  const updated = text.slice(0, m.index) + m[1] + String(newSize) + text.slice(m.index + m[0].length);
  const check = JSON.parse(updated) as { devices: { name: string; fields?: { name: string; size: number }[] }[] };
  const f = check.devices.find((x) => x.name === "dbus-vmstate/dbus-vmstate")?.fields?.find((x) => x.name === "data");
  if (f?.size !== newSize) throw new EditError("could not update the vmdesc's dbus-vmstate entry");
  const bytes = utf8.encode(updated);
  overrides.set(json.id, [{ bytes }]);
  overrides.set(len.id, [{ bytes: u32(bytes.length) }]);
}

function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(t: string): Uint8Array {
  const s = atob(t);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** JSON-safe form of an edit (bytes as base64), for hot-exit backups. */
export function editToJson(e: Edit): Record<string, unknown> {
  if ("bytes" in e) return { ...e, bytes: toBase64(e.bytes) };
  return { ...e };
}

export function editFromJson(j: Record<string, unknown>): Edit {
  const t = j.type;
  const str = (k: string) => {
    if (typeof j[k] !== "string") throw new EditError(`edit field ${k} missing`);
    return j[k] as string;
  };
  const num = (k: string) => {
    if (typeof j[k] !== "number") throw new EditError(`edit field ${k} missing`);
    return j[k] as number;
  };
  const bytes = () => fromBase64(str("bytes"));
  switch (t) {
    case "helper-set":
      return { type: t, index: num("index"), id: str("id"), bytes: bytes() };
    case "helper-add":
      return { type: t, id: str("id"), bytes: bytes() };
    case "helper-remove":
      return { type: t, index: num("index"), id: str("id") };
    case "helper-rename":
      return { type: t, index: num("index"), id: str("id"), newId: str("newId") };
    case "field-set":
      return { type: t, nodeId: str("nodeId"), value: str("value") };
    case "bytes-set":
      return { type: t, nodeId: str("nodeId"), bytes: bytes() };
    default:
      throw new EditError(`unknown edit type ${String(t)}`);
  }
}
