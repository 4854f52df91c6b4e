// The result of comparing two decoded migration streams (`vmstate diff --json` prints it as is;
// docs/DIFF.md documents every field). Pure data, JSON-safe: offsets are numbers, values strings.

/** Which side(s) a compared item is on, and whether it differs. */
export type DiffStatus = "same" | "changed" | "only-a" | "only-b";

/** One side of a differing item: its value as shown, and where its bytes are in that file. */
export interface SideValue {
  /** The value as `vmstate dump` / the editor show it (integers in decimal, bytes in hex...). */
  value: string;
  /** Absolute [offset, end) of the value's bytes in that side's file. */
  offset: number;
  end: number;
  /** vmdesc type (uint32, buffer, timer...) when known. */
  type?: string;
}

/** A device (or configuration) field that differs, or exists on one side only. */
export interface FieldDiff {
  /** "NAME:INSTANCE/field/sub[3]" (the part after the first "/" is set-field's --field PATH). */
  path: string;
  /** The section ("NAME:INSTANCE") or "configuration". */
  section: string;
  status: Exclude<DiffStatus, "same">;
  a?: SideValue;
  b?: SideValue;
  /** For byte buffers of equal length: the first differing byte, relative to the value start. */
  firstDiff?: number;
}

export interface SectionRef {
  /** "NAME:INSTANCE" */
  key: string;
  name: string;
  instanceId: number;
  versionId: number;
  sectionId: number;
  offset: number;
}

export interface HelperSide {
  size: number;
  sha256: string;
  /** Offset of the blob in that file. */
  offset: number;
}

export interface HelperDiff {
  id: string;
  status: Exclude<DiffStatus, "same">;
  a?: HelperSide;
  b?: HelperSide;
  /** First differing byte within the blobs (or the shorter length when one is a prefix). */
  firstDiff?: number;
}

/** How a differing RAM page differs. */
export type PageChange =
  /** both sides hold data, and it differs */
  | "changed"
  /** zero (or filled) page in A, other data in B */
  | "zero-to-data"
  | "data-to-zero"
  /** sent by one side only */
  | "only-a"
  | "only-b"
  /** cannot be compared without earlier state (XBZRLE) or a decompressor */
  | "uncompared";

export interface PageRange {
  /** Guest-physical offset inside the block (QEMU's ram_addr offset), [start, end). */
  start: number;
  end: number;
  pages: number;
  change: PageChange;
}

export interface PageDiff {
  addr: number;
  change: PageChange;
  /** Offset of the page's record in each file. */
  aOffset?: number;
  bOffset?: number;
  /** First differing byte inside the page, when both sides have bytes. */
  firstDiff?: number;
}

export interface RamBlockDiff {
  name: string;
  status: DiffStatus;
  usedLengthA?: number;
  usedLengthB?: number;
  /** Pages compared (present on both sides). */
  comparedPages: number;
  /** Differing pages by kind of change. */
  counts: Record<PageChange, number>;
  /** Runs of consecutive differing pages with the same kind of change, in address order (capped). */
  ranges: PageRange[];
  rangesTruncated: boolean;
  /** The first few differing pages. */
  first: PageDiff[];
}

export interface ConfigDiff {
  machineType?: { a?: string; b?: string };
  pageSize?: { a: number; b: number };
  capabilities: { onlyA: string[]; onlyB: string[] };
}

export interface SideSummary {
  file: string;
  size: number;
  machineType?: string;
  pageSize: number;
  capabilities: string[];
  sectionRecords: number;
  helpers: number;
  ramBlocks: number;
  /** Decoder errors on this side: parts after an error may be missing from the comparison. */
  decodeErrors: number;
}

/** Things the comparison could not stand behind (undecodable parts, pages it could not compare). */
export interface DiffNote {
  severity: "error" | "warning" | "info";
  code: string;
  message: string;
}

export interface StreamDiff {
  /** Version of this JSON shape. */
  format: 1;
  a: SideSummary;
  b: SideSummary;
  /** No difference of any kind below (notes do not count). */
  same: boolean;
  counts: {
    configuration: number;
    sections: number;
    fields: number;
    helpers: number;
    ramBlocks: number;
    ramPages: number;
  };
  configuration: ConfigDiff;
  sections: {
    onlyA: SectionRef[];
    onlyB: SectionRef[];
    /** Same section, different version_id. */
    versionChanged: { key: string; a: number; b: number }[];
  };
  fields: FieldDiff[];
  /** Set when more fields differ than were listed. */
  fieldsTruncated?: number;
  helpers: HelperDiff[];
  ram: { blocks: RamBlockDiff[] };
  notes: DiffNote[];
}
