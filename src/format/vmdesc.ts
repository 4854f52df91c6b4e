// Locating and parsing the vmdesc JSON (QEMU_VM_VMDESCRIPTION) that follows EOF.
import { QEMU_VM_EOF, QEMU_VM_VMDESCRIPTION, type ByteSource, type VmDesc } from "./types";

/** How far back from the end we look for the vmdesc: QEMU's are 10–200 KB; 64 MiB is generous. */
const TAIL_LIMIT = 64 * 1024 * 1024;
const WINDOW = 1024 * 1024;

export interface VmdescLocation {
  /** Offset of the EOF byte (0x00) that precedes 0x06. */
  eofOffset: number;
  /** Offset of the 0x06 byte. */
  recordOffset: number;
  jsonStart: number;
  jsonEnd: number;
  /** Zero bytes after the JSON (some writers pad). */
  paddingEnd: number;
}

/**
 * Finds the vmdesc exactly: a `{` at p with 0x06 at p-5, be32 at p-4 equal to the JSON's length
 * running to the end of the data (trailing zero padding allowed), and EOF (0x00) at p-6. QEMU's
 * analyzer instead takes the first `{` after the last NUL, which breaks when a length byte is 0x7b.
 */
export function locateVmdesc(src: ByteSource): VmdescLocation | undefined {
  const size = src.size;
  // trailing zero padding (O_DIRECT writers); a JSON text never ends in NUL
  let dataEnd = size;
  while (dataEnd > 0) {
    const from = Math.max(0, dataEnd - 4096);
    const b = src.read(from, dataEnd - from);
    let i = b.length - 1;
    while (i >= 0 && b[i] === 0) i--;
    if (i >= 0) {
      dataEnd = from + i + 1;
      break;
    }
    dataEnd = from;
    if (size - dataEnd > TAIL_LIMIT) return undefined;
  }
  if (dataEnd < 7) return undefined;
  const last = src.read(dataEnd - 1, 1)[0];
  if (last !== 0x7d /* } */) return undefined;
  const lowest = Math.max(6, dataEnd - TAIL_LIMIT);
  for (let winEnd = dataEnd; winEnd > lowest;) {
    const winStart = Math.max(lowest - 6, winEnd - WINDOW);
    const b = src.read(winStart, Math.min(winEnd + 0, dataEnd) - winStart);
    for (let i = b.length - 1; i >= 6 && winStart + i >= lowest; i--) {
      if (b[i] !== 0x7b /* { */) continue;
      const p = winStart + i;
      if (b[i - 5] !== QEMU_VM_VMDESCRIPTION || b[i - 6] !== QEMU_VM_EOF) continue;
      const len = ((b[i - 4]! << 24) >>> 0) + ((b[i - 3]! << 16) | (b[i - 2]! << 8) | b[i - 1]!);
      if (len === dataEnd - p) {
        return { eofOffset: p - 6, recordOffset: p - 5, jsonStart: p, jsonEnd: dataEnd, paddingEnd: size };
      }
    }
    winEnd = winStart + 6;
    if (winStart <= lowest - 6) break;
  }
  return undefined;
}

export interface ParsedVmdesc {
  desc?: VmDesc;
  error?: string;
  text: string;
}

export function parseVmdesc(jsonText: string): ParsedVmdesc {
  try {
    const v: unknown = JSON.parse(jsonText);
    if (!v || typeof v !== "object" || Array.isArray(v))
      return { text: jsonText, error: "the vmdesc is not a JSON object" };
    const o = v as Record<string, unknown>;
    if (!Array.isArray(o.devices)) return { text: jsonText, error: "the vmdesc has no devices list" };
    if (typeof o.page_size !== "number") return { text: jsonText, error: "the vmdesc has no page_size" };
    return { text: jsonText, desc: o as unknown as VmDesc };
  } catch (e) {
    return { text: jsonText, error: `the vmdesc is not valid JSON: ${(e as Error).message}` };
  }
}

/** How deep vmdesc descriptions may nest (struct in struct, subsection in subsection). QEMU's own are < 10. */
export const MAX_VMSD_DEPTH = 64;

/**
 * What is wrong with one VMState description from the vmdesc JSON (a device, the configuration):
 * undefined when it is usable. Checked without recursion (a hostile vmdesc may nest thousands deep):
 * fields and subsections must be lists of objects, a field's `type`/`name` must be strings, its
 * `struct` an object, numbers numbers, and nesting at most MAX_VMSD_DEPTH. The decoder shows a
 * section whose description fails this raw, with this message, instead of trusting it.
 */
export function vmsdProblem(desc: unknown, where: string): string | undefined {
  const stack: { d: unknown; path: string; depth: number }[] = [{ d: desc, path: where, depth: 0 }];
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  while (stack.length) {
    const { d, path, depth } = stack.pop()!;
    if (!isObj(d)) return `${path} is ${d === null ? "null" : Array.isArray(d) ? "a list" : typeof d}, not an object`;
    if (depth > MAX_VMSD_DEPTH) return `${path} is nested more than ${MAX_VMSD_DEPTH} descriptions deep`;
    if (d.fields !== undefined) {
      if (!Array.isArray(d.fields)) return `${path}.fields is not a list`;
      for (let i = 0; i < d.fields.length; i++) {
        const f: unknown = d.fields[i];
        const fp = `${path}.fields[${i}]`;
        if (!isObj(f)) return `${fp} is ${f === null ? "null" : typeof f}, not an object`;
        if (f.name !== undefined && typeof f.name !== "string") return `${fp}.name is not a string`;
        if (f.type !== undefined && typeof f.type !== "string") return `${fp}.type is not a string`;
        for (const k of ["size", "array_len", "index"])
          if (f[k] !== undefined && typeof f[k] !== "number") return `${fp}.${k} is not a number`;
        if (f.struct !== undefined) stack.push({ d: f.struct, path: `${fp}.struct`, depth: depth + 1 });
      }
    }
    if (d.subsections !== undefined) {
      if (!Array.isArray(d.subsections)) return `${path}.subsections is not a list`;
      d.subsections.forEach((s: unknown, i: number) =>
        stack.push({ d: s, path: `${path}.subsections[${i}]`, depth: depth + 1 }),
      );
    }
  }
  return undefined;
}
