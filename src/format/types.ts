// The decoded model of a QEMU migration stream. Pure data: no vscode, fs or DOM.
// Spans are absolute, half-open [start, end) byte offsets into the stream.

export interface Span {
  start: number;
  end: number;
}

/** Random-access bytes. Implementations: src/io (paged file, in memory) and the model's edited view. */
export interface ByteSource {
  readonly size: number;
  /**
   * Bytes [offset, offset+length) clipped to the source. The returned view may be backed by a
   * shared buffer: copy it if it must outlive the next read.
   */
  read(offset: number, length: number): Uint8Array;
  /**
   * Optional: copy bytes from `offset` into `target` and return how many were copied. Sequential
   * readers use it to fill a buffer of their own (no shared views, no allocation per read).
   */
  readInto?(offset: number, target: Uint8Array): number;
  /**
   * Optional: windows for one forward walk from `start` (the decoder's record loop), which the
   * source may read ahead of (io/readAhead.ts: a helper thread shares the copying of a big file).
   * Undefined when the source has nothing better than readInto for it.
   */
  scan?(start: number): ScanCursor | undefined;
}

/** A forward walk over a ByteSource (ByteSource.scan). */
export interface ScanCursor {
  /**
   * Bytes [pos, pos+n) or more (fewer only at the end of the source). The view is valid until the
   * next call; positions should only move forward (moving back works, without the read-ahead).
   */
  window(pos: number, n: number): Uint8Array;
  /** Ends the walk: no more reading ahead. */
  close(): void;
}

export type Severity = "error" | "warning" | "info";

export interface Diagnostic {
  severity: Severity;
  /** Stable machine-readable code, e.g. "truncated", "dbus-count-mismatch". */
  code: string;
  message: string;
  span: Span;
  /** Id of the node the diagnostic belongs to, when there is one. */
  nodeId?: string;
}

/** How a leaf's value is written back; absent on raw leaves (their bytes are copied). */
export type Enc =
  | "u8"
  | "u16"
  | "u32"
  | "u64"
  | "i8"
  | "i16"
  | "i32"
  | "i64"
  | "bool"
  /** u8 length + bytes (value: Uint8Array) */
  | "cstr8"
  /** be32 length + bytes (value: Uint8Array) */
  | "cstr32"
  /** value (Uint8Array) written as it is: replaced raw bytes */
  | "raw";

export type Scalar = number | bigint | boolean | Uint8Array | string;

export type NodeKind =
  | "stream"
  | "header"
  | "configuration"
  | "subsection"
  | "section"
  | "footer"
  | "field"
  | "struct"
  | "array"
  | "element"
  | "ram-setup"
  | "ram-block"
  | "ram-blocks"
  | "page-run"
  | "page"
  | "ram-marker"
  | "dbus-data"
  | "helper"
  | "padding"
  | "command"
  | "packaged"
  | "eof"
  | "vmdesc"
  | "opaque"
  | "unparsed";

/** A value in a node's `info`: JSON-safe (it travels to the webview as it is). */
export type InfoValue = string | number | boolean | null;

/** How a section's payload is decoded (records.ts). */
export type Handler = "ram" | "vmsd" | "dbus-builtin" | "block" | "htab" | "s390" | "opaque";

/** What a RAM page run or page holds ("mixed": a mapped-ram run whose bitmap was not split). */
export type PageKind = "zero" | "page" | "xbzrle" | "compressed" | "mixed";

// The `info` of each node kind (type aliases, not interfaces: they must fit Record<string, InfoValue>
// for the webview DTOs). Only these kinds carry info from the decoder; the editor adds
// ContainerFacts on its container node (kind "header") and that node's "opaque" children.

/** "section": the header values of a SECTION_START/FULL/PART/END record (records.ts). */
export type SectionNodeInfo = {
  sectionId: number;
  instanceId: number;
  versionId: number;
  sectionKind: SectionKind;
  handler: Handler;
};
/** "subsection": its version_id (vmsd.ts). */
export type SubsectionNodeInfo = {
  version: number;
};
/** "array": number of elements (vmsd.ts, the configuration's capabilities, DISCARD ranges). */
export type ArrayNodeInfo = {
  length: number;
};
/**
 * "field": a bool whose byte was neither 0 nor 1 (`raw`, shown true), or a run of more than
 * MAX_ARRAY_NODES array elements kept as one raw leaf (`elements` of `elementSize` bytes from
 * index `firstIndex`; vmsd.ts).
 */
export type FieldNodeInfo = {
  raw?: number;
  elements?: number;
  elementSize?: number;
  firstIndex?: number;
};
/** "helper": one dbus-vmstate entry: its Id, blob size and blob span (dbusVmstate.ts). */
export type HelperNodeInfo = {
  helperId: string;
  size: number;
  blobStart: number;
  blobEnd: number;
};
/** "command": the MIG_CMD number, argument length and name without MIG_CMD_ (commands.ts). */
export type CommandNodeInfo = {
  cmd: number;
  len: number;
  command: string;
};
/** "ram-setup": the MEM_SIZE record's total RAM (ram.ts). */
export type RamSetupNodeInfo = {
  totalBytes: number;
};
/**
 * "ram-block" grouping pages: consecutive page records of one RAM block, or a mapped-ram block's
 * pages (ram.ts). The "ram-block" entries of the setup record's block list carry no info.
 */
export type RamBlockNodeInfo = {
  block: string;
  pages: number;
};
/**
 * "page-run" of RAM (ram.ts): `count` page records of one kind from firstAddr to lastAddr (guest
 * RAM offsets within `block`), expanded on demand (node.lazy). mapped-ram runs add where their
 * pages are: page `firstPage` of the block, and the block's bitmap offset.
 */
export type RamRunNodeInfo = {
  block: string;
  pageKind: PageKind;
  count: number;
  firstAddr: number;
  lastAddr: number;
  mapped?: boolean;
  firstPage?: number;
  bitmapOffset?: number;
};
/** "page-run" of block migration (iterative.ts): `count` 1 MiB blocks of one device. */
export type BlockRunNodeInfo = {
  device: string;
  blockKind: "data" | "zero";
  count: number;
  firstSector: number;
  lastSector: number;
};
/** "page": one RAM page (record) of an expanded run (ram.ts). */
export type PageNodeInfo = {
  block: string;
  addr: number;
  pageKind: PageKind;
  mapped?: boolean;
};
/** Facts about a container file (libvirt header, qcow2 snapshot…), by display name (src/editor). */
export type ContainerFacts = Record<string, InfoValue>;

/** The info each node kind carries (`never`: none). */
export interface NodeInfoMap {
  stream: never;
  header: ContainerFacts;
  configuration: never;
  subsection: SubsectionNodeInfo;
  section: SectionNodeInfo;
  footer: never;
  field: FieldNodeInfo;
  struct: never;
  array: ArrayNodeInfo;
  element: never;
  "ram-setup": RamSetupNodeInfo;
  "ram-block": RamBlockNodeInfo;
  "ram-blocks": never;
  "page-run": RamRunNodeInfo | BlockRunNodeInfo;
  page: PageNodeInfo;
  "ram-marker": never;
  "dbus-data": never;
  helper: HelperNodeInfo;
  padding: never;
  command: CommandNodeInfo;
  packaged: never;
  eof: never;
  vmdesc: never;
  opaque: ContainerFacts;
  unparsed: never;
}

/** The decoder's info types (NodeInfoMap without the container facts). */
type KnownInfo =
  | SectionNodeInfo
  | SubsectionNodeInfo
  | ArrayNodeInfo
  | FieldNodeInfo
  | HelperNodeInfo
  | CommandNodeInfo
  | RamSetupNodeInfo
  | RamBlockNodeInfo
  | RamRunNodeInfo
  | BlockRunNodeInfo
  | PageNodeInfo;
type KeysOf<U> = U extends unknown ? keyof U : never;
type ValueOf<U, K extends PropertyKey> = U extends unknown ? (K extends keyof U ? U[K] : never) : never;

/**
 * The info of a node whose kind is not known statically: every kind's fields, each optional and
 * with its own type (`n.info?.sectionId` is a number or undefined), plus container facts under
 * other names. Narrow with isKind() to get exactly one kind's info.
 */
export type AnyNodeInfo = { [K in KeysOf<KnownInfo>]?: ValueOf<KnownInfo, K> } & { [fact: string]: InfoValue };

/** A node of any kind: its `info` is AnyNodeInfo (narrow with isKind() for one kind's info). */
export interface VNode extends NodeFields {
  kind: NodeKind;
  /** Kind-specific facts (section header values, helper facts…), JSON-safe: see NodeInfoMap. */
  info?: AnyNodeInfo;
}

/** A node of kind K, whose `info` is that kind's (what the decoder's ctx.node() returns). */
export interface KindNode<K extends NodeKind> extends NodeFields {
  kind: K;
  info?: NodeInfoMap[K];
}

/** What every node has, whatever its kind. */
interface NodeFields {
  /** Stable, path-like id (same stream, same decoder: same id). */
  id: string;
  /** Short name shown in the tree: field name, section idstr, helper Id… */
  name: string;
  /** Optional one-line summary of the value shown beside the name. */
  detail?: string;
  span: Span;
  /** The editable bytes of a leaf (for a counted string: the bytes after the length). */
  valueSpan?: Span;
  /** vmdesc type ("uint32", "buffer", "struct"…) or wire type for built-in layouts. */
  type?: string;
  value?: Scalar;
  enc?: Enc;
  children?: VNode[];
  /** Children exist but are produced on demand (see expandNode). */
  lazy?: "pages" | "mapped-pages";
  incomplete?: boolean;
}

/** Narrow a node to one kind, and with it its `info` (e.g. isKind(n, "section") && n.info?.versionId). */
export function isKind<K extends NodeKind>(n: VNode | undefined, kind: K): n is VNode & KindNode<K> {
  return n !== undefined && n.kind === kind;
}

export const QEMU_VM_FILE_MAGIC = 0x5145564d;
export const QEMU_VM_FILE_VERSION_COMPAT = 0x00000002;
export const QEMU_VM_FILE_VERSION = 0x00000003;

export const QEMU_VM_EOF = 0x00;
export const QEMU_VM_SECTION_START = 0x01;
export const QEMU_VM_SECTION_PART = 0x02;
export const QEMU_VM_SECTION_END = 0x03;
export const QEMU_VM_SECTION_FULL = 0x04;
export const QEMU_VM_SUBSECTION = 0x05;
export const QEMU_VM_VMDESCRIPTION = 0x06;
export const QEMU_VM_CONFIGURATION = 0x07;
export const QEMU_VM_COMMAND = 0x08;
export const QEMU_VM_SECTION_FOOTER = 0x7e;

export type SectionKind = "start" | "part" | "end" | "full";

/** One SECTION_START/PART/END/FULL record as listed by `vmstate inspect`. */
export interface SectionInfo {
  sectionId: number;
  name: string;
  instanceId: number;
  versionId: number;
  kind: SectionKind;
  offset: number;
  end: number;
  nodeId: string;
}

/** A dbus-vmstate helper entry. */
export interface HelperInfo {
  id: string;
  /** Raw Id bytes (the Id may not be UTF-8). */
  idBytes: Uint8Array;
  size: number;
  /** Span of the blob bytes in the stream. */
  blob: Span;
  /** Span of the whole entry (id_len, Id, size, blob). */
  entry: Span;
  nodeId: string;
}

/** One QEMU_VM_COMMAND record (see commands.ts), as listed by `vmstate inspect`. */
export interface CommandInfo {
  /** MIG_CMD_ name without the prefix, e.g. "SWITCHOVER_START"; "unknown (n)" for unknown numbers. */
  name: string;
  cmd: number;
  /** Offset of the 0x08 byte and the end of the record (for PACKAGED: after the wrapped stream). */
  offset: number;
  end: number;
  nodeId: string;
  /** 0 for top-level records, 1 inside a PACKAGED stream. */
  depth: number;
  /** Decoded arguments (PING value, ADVISE page sizes, DISCARD block and range count, ...). */
  args?: Record<string, string | number>;
}

export interface RamBlockInfo {
  name: string;
  usedLength: number;
  mrAddr?: number;
  pageSize?: number;
  /** mapped-ram: where the block's bitmap and pages are in the file. */
  mapped?: MappedRamLayout;
}

/** Where a mapped-ram block's bitmap and pages are (RamBlockInfo.mapped). */
export interface MappedRamLayout {
  bitmapOffset: number;
  bitmapSize: number;
  pagesOffset: number;
  /** Pages in the block (used_length / page size, rounded up). */
  pages: number;
  /** Pages whose bitmap bit is set (present in the file). */
  present: number;
  /** Present pages whose bytes lie past the end of the file: they cannot be read. */
  unreadable: number;
}

export interface DecodedStream {
  size: number;
  root: VNode;
  diagnostics: Diagnostic[];
  sections: SectionInfo[];
  helpers: HelperInfo[];
  /** QEMU_VM_COMMAND records in stream order (outer and inside PACKAGED). */
  commands: CommandInfo[];
  ramBlocks: RamBlockInfo[];
  /** Target page size used for RAM records. */
  pageSize: number;
  /** Parsed vmdesc JSON, when the stream has one. */
  vmdesc?: VmDesc;
  /** The vmdesc JSON text exactly as in the stream. */
  vmdescText?: string;
  vmdescSpan?: Span;
  machineType?: string;
  capabilities: string[];
}

export interface FieldDesc {
  name: string;
  array_len?: number;
  index?: number;
  type: string;
  struct?: VmsdDesc;
  size: number;
  [k: string]: unknown;
}
export interface VmsdDesc {
  vmsd_name?: string;
  version?: number;
  fields?: FieldDesc[];
  subsections?: VmsdDesc[];
  [k: string]: unknown;
}
export interface DeviceDesc extends VmsdDesc {
  name: string;
  instance_id: number;
  size?: number;
}
export interface VmDesc {
  configuration?: VmsdDesc;
  page_size: number;
  devices: DeviceDesc[];
  [k: string]: unknown;
}
