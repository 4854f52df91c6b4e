// The checks QEMU's dbus-vmstate object (backends/dbus-vmstate.c) applies to helpers, as pure
// functions over what the client observed, so the CLI, the tree and tests share one wording.

import { DBUS_VMSTATE_ID_MAX, DBUS_VMSTATE_SIZE_LIMIT } from "../format/dbusVmstate";

// QEMU's limits are defined once, in src/format/dbusVmstate.ts; the explorer and the CLI take them from here
export { DBUS_VMSTATE_SIZE_LIMIT };
/** docs/interop/dbus-vmstate.rst: "The state must be saved quickly (a fraction of a second)". */
export const DEFAULT_SLOW_SAVE_MS = 1000;

export type RuleId =
  "id-present" | "id-length" | "id-unique" | "save-answers" | "save-fast" | "size-limit" | "not-empty";

export const RULE_TITLES: Record<RuleId, string> = {
  "id-present": "Id property present",
  "id-length": "Id is 1-255 bytes",
  "id-unique": "Id unique on the bus",
  "save-answers": "Save answers with an ay",
  "save-fast": "Save is quick",
  "size-limit": "Size at most 1 MiB",
  "not-empty": "Not empty",
};

export interface RuleResult {
  rule: RuleId;
  ok: boolean;
  /** Not evaluated because an earlier rule failed (then ok is false). */
  skipped?: boolean;
  message: string;
}

export interface ObservedHelper {
  uniqueName: string;
  id: string | null;
  idError?: string;
}

export type ObservedSave = { ok: true; size: number; ms: number } | { ok: false; error: string };

export function checkId(h: ObservedHelper, all: readonly ObservedHelper[]): RuleResult[] {
  const out: RuleResult[] = [];
  if (h.id === null) {
    out.push({ rule: "id-present", ok: false, message: h.idError ?? "VMState Id property is missing." });
    out.push({ rule: "id-length", ok: false, skipped: true, message: "not checked: no Id" });
    out.push({ rule: "id-unique", ok: false, skipped: true, message: "not checked: no Id" });
    return out;
  }
  out.push({ rule: "id-present", ok: true, message: `Id "${h.id}"` });
  const n = Buffer.byteLength(h.id, "utf8");
  out.push(
    n >= 1 && n <= DBUS_VMSTATE_ID_MAX
      ? { rule: "id-length", ok: true, message: `${n} byte${n === 1 ? "" : "s"}` }
      : {
          rule: "id-length",
          ok: false,
          message: `Id is ${n} bytes; QEMU needs 1..${DBUS_VMSTATE_ID_MAX} ("VMState Id '${h.id.slice(0, 40)}' is invalid.")`,
        },
  );
  const same = all.filter((o) => o.id === h.id && o.uniqueName !== h.uniqueName).map((o) => o.uniqueName);
  out.push(
    same.length
      ? {
          rule: "id-unique",
          ok: false,
          message: `also used by ${same.join(", ")}; QEMU fails with "Duplicated VMState Id '${h.id}'"`,
        }
      : { rule: "id-unique", ok: true, message: "unique" },
  );
  return out;
}

export function checkSave(s: ObservedSave, slowMs = DEFAULT_SLOW_SAVE_MS): RuleResult[] {
  if (!s.ok) {
    return [
      { rule: "save-answers", ok: false, message: s.error },
      { rule: "save-fast", ok: false, skipped: true, message: "not checked: Save did not answer" },
      { rule: "size-limit", ok: false, skipped: true, message: "not checked: Save did not answer" },
      { rule: "not-empty", ok: false, skipped: true, message: "not checked: Save did not answer" },
    ];
  }
  const ms = Math.round(s.ms);
  return [
    { rule: "save-answers", ok: true, message: `answered with ${formatSize(s.size)}` },
    s.ms <= slowMs
      ? { rule: "save-fast", ok: true, message: `${ms} ms` }
      : {
          rule: "save-fast",
          ok: false,
          message: `${ms} ms, more than ${slowMs} ms; QEMU's docs ask for a fraction of a second and the migration waits for it`,
        },
    s.size <= DBUS_VMSTATE_SIZE_LIMIT
      ? { rule: "size-limit", ok: true, message: formatSize(s.size) }
      : {
          rule: "size-limit",
          ok: false,
          message: `${formatSize(s.size)} is over 1 MiB; QEMU drops it ("Too large vmstate data to save")`,
        },
    s.size > 0
      ? { rule: "not-empty", ok: true, message: formatSize(s.size) }
      : { rule: "not-empty", ok: false, message: "Save returned 0 bytes; QEMU cannot migrate an empty blob" },
  ];
}

export function formatSize(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? "" : "s"}`;
  if (n < 1024 * 1024) return `${n} bytes (${(n / 1024).toFixed(1)} KiB)`;
  return `${n} bytes (${(n / 1024 / 1024).toFixed(2)} MiB)`;
}

/** Equal, or the first differing offset (a shorter side differs at its length). */
export type CompareResult =
  | { equal: true; size: number }
  | { equal: false; offset: number; liveSize: number; streamSize: number; message: string };

export function compareBytes(live: Uint8Array, stream: Uint8Array): CompareResult {
  const n = Math.min(live.length, stream.length);
  let i = 0;
  while (i < n && live[i] === stream[i]) i++;
  if (i === n && live.length === stream.length) return { equal: true, size: n };
  const hex = (b: Uint8Array) => (i < b.length ? `0x${b[i]!.toString(16).padStart(2, "0")}` : "end of data");
  return {
    equal: false,
    offset: i,
    liveSize: live.length,
    streamSize: stream.length,
    message:
      `first difference at offset ${i} (0x${i.toString(16)}): live ${hex(live)}, stream ${hex(stream)}` +
      (live.length !== stream.length ? `; sizes ${live.length} (live) vs ${stream.length} (stream)` : ""),
  };
}
