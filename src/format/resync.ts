// Heuristics for finding a record boundary when nothing describes where a record ends: a section
// payload no vmdesc entry describes (find its footer, or the next plausible record), an unknown
// record type, or a decode error in the middle of a section (resume at the next plausible record).
// Results are a best guess: the decoder says so with "opaque-section", "heuristic-sections" and
// "resync" diagnostics.
import { MIG_CMD_OPEN_RETURN_PATH, MIG_CMD_SWITCHOVER_START } from "./commands";
import { text } from "./reader";
import type { StreamState } from "./streamState";
import {
  QEMU_VM_COMMAND,
  QEMU_VM_EOF,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
} from "./types";

// Both scans read windows that start small and double (4 KiB … 1 MiB): a tiny section costs a
// tiny read, not a 1 MiB copy (many tiny sections used to cost seconds and hundreds of MB). A
// failed footer scan switches later sections to resync, so no byte is scanned more than twice.
const SCAN_MIN = 4096;
const SCAN_MAX = 1 << 20;
/** Bytes read to judge one candidate record (a START header with a 255-byte name fits). */
const PLAUSIBLE_PEEK = 300;
/** Instance and version ids above this are taken as noise, not a section header. */
const MAX_PLAUSIBLE_ID = 0xffff;

/** Scan for `0x7e be32(sectionId)` followed by a plausible record. Returns the footer offset or -1. */
export function scanForFooter(st: StreamState, from: number, sectionId: number, limit: number): number {
  if (st.footerScanFailed) return -1;
  const b0 = (sectionId >>> 24) & 0xff,
    b1 = (sectionId >>> 16) & 0xff,
    b2 = (sectionId >>> 8) & 0xff,
    b3 = sectionId & 0xff;
  for (let base = from, ch = SCAN_MIN; base < limit; base += ch - 5, ch = Math.min(ch * 2, SCAN_MAX)) {
    const b = st.src.read(base, Math.min(ch, limit - base));
    for (let i = 0; i + 5 <= b.length; i++) {
      if (b[i] !== QEMU_VM_SECTION_FOOTER || b[i + 1] !== b0 || b[i + 2] !== b1 || b[i + 3] !== b2 || b[i + 4] !== b3)
        continue;
      if (plausibleRecordAt(st, base + i + 5, limit)) return base + i;
    }
    if (base + b.length >= limit) break;
  }
  st.footerScanFailed = true;
  return -1;
}

/** The next offset >= from where a plausible record (START/FULL header or the final EOF) starts, or `limit`. */
export function resync(st: StreamState, from: number, limit: number): number {
  for (let base = from, ch = SCAN_MIN; base < limit; base += ch, ch = Math.min(ch * 2, SCAN_MAX)) {
    const b = st.src.read(base, Math.min(ch, limit - base));
    for (let i = 0; i < b.length; i++) {
      const t = b[i];
      if (t !== QEMU_VM_SECTION_FULL && t !== QEMU_VM_SECTION_START && t !== QEMU_VM_EOF) continue;
      if (plausibleRecordAt(st, base + i, limit, true)) return base + i;
    }
  }
  return limit;
}

/**
 * Is there a believable record at p? A START/FULL header needs a printable idstr and small
 * instance and version ids (and, with a vmdesc, a FULL must name a described device); an EOF must
 * be the one before the vmdesc or the last byte. Strict mode accepts only START/FULL headers and
 * that final EOF; otherwise PART/END of an open section and a known COMMAND also count.
 */
export function plausibleRecordAt(st: StreamState, p: number, limit: number, strict = false): boolean {
  if (p === limit) return true;
  if (p > limit) return false;
  const b = st.src.read(p, Math.min(PLAUSIBLE_PEEK, limit - p));
  const t = b[0]!;
  const be32 = (i: number) => ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!);
  switch (t) {
    case QEMU_VM_EOF:
      if (st.vmdescLoc) return p === st.vmdescLoc.eofOffset;
      return (
        p + 1 === st.src.size || (b.length > 5 && b[1] === QEMU_VM_VMDESCRIPTION && be32(2) === st.src.size - p - 6)
      );
    case QEMU_VM_SECTION_START:
    case QEMU_VM_SECTION_FULL: {
      // u8 type, be32 section id, u8 len, idstr, be32 instance, be32 version
      if (b.length < 6) return false;
      const len = b[5]!;
      if (len === 0 || b.length < 6 + len + 8) return false;
      for (let i = 0; i < len; i++) {
        const c = b[6 + i]!;
        if (c < 0x20 || c > 0x7e) return false;
      }
      const name = text(b.subarray(6, 6 + len));
      const instance = be32(6 + len);
      const version = be32(10 + len);
      if (instance > MAX_PLAUSIBLE_ID || version > MAX_PLAUSIBLE_ID) return false;
      if (st.vmdesc && t === QEMU_VM_SECTION_FULL) return st.devicesByKey.has(`${name}\0${instance}`);
      return true;
    }
    case QEMU_VM_SECTION_PART:
    case QEMU_VM_SECTION_END:
      return !strict && b.length >= 5 && st.open.has(be32(1));
    case QEMU_VM_COMMAND: {
      if (strict || b.length < 5) return false;
      const cmd = (b[1]! << 8) | b[2]!;
      return cmd >= MIG_CMD_OPEN_RETURN_PATH && cmd <= MIG_CMD_SWITCHOVER_START;
    }
    default:
      return false;
  }
}
