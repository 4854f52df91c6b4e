// QEMU_VM_COMMAND records (migration/savevm.c: qemu_savevm_command_send, loadvm_process_command).
//
// Framing: u8 0x08, be16 cmd, be16 len, then len bytes of arguments. The loader checks len against
// mig_cmd_args[cmd].len unless that is -1 (variable). What each command carries:
//   OPEN_RETURN_PATH (1)  nothing; the destination opens its return path
//   PING (2)              be32 value, answered with PONG(value) on the return path
//   POSTCOPY_ADVISE (3)   0 bytes (postcopy of dirty bitmaps only) or
//                         be64 ram_pagesize_summary, be64 target page size (postcopy-ram)
//   POSTCOPY_LISTEN (4)   nothing
//   POSTCOPY_RUN (5)      nothing
//   POSTCOPY_RAM_DISCARD (6)  u8 version (0), u8 name length, name, u8 0,
//                         then (be64 start, be64 length) byte ranges within that RAM block
//   PACKAGED (7)          be32 length, followed (outside the command's len) by that many bytes:
//                         a nested stream of records without header, ending in EOF (postcopy
//                         sends the device state this way)
//   ENABLE_COLO (8)       nothing
//   POSTCOPY_RESUME (9)   nothing
//   RECV_BITMAP (10)      u8 name length, RAM block name (normally on a resumed postcopy channel)
//   SWITCHOVER_START (11) nothing; QEMU >= 10.0 sends it in every precopy stream of a machine
//                         type >= 10.0 (migration global send-switchover-start) between the
//                         last ram PART and the ram END
import type { DecodeContext } from "./context";
import { hexPreview } from "./context";
import { DecodeError, hex } from "./errors";
import { text, type Reader } from "./reader";
import { QEMU_VM_COMMAND, type CommandInfo, type VNode } from "./types";

export const MIG_CMD_INVALID = 0;
export const MIG_CMD_OPEN_RETURN_PATH = 1;
export const MIG_CMD_PING = 2;
export const MIG_CMD_POSTCOPY_ADVISE = 3;
export const MIG_CMD_POSTCOPY_LISTEN = 4;
export const MIG_CMD_POSTCOPY_RUN = 5;
export const MIG_CMD_POSTCOPY_RAM_DISCARD = 6;
export const MIG_CMD_PACKAGED = 7;
export const MIG_CMD_ENABLE_COLO = 8;
export const MIG_CMD_POSTCOPY_RESUME = 9;
export const MIG_CMD_RECV_BITMAP = 10;
export const MIG_CMD_SWITCHOVER_START = 11;
export const MIG_CMD_MAX = 12;

export const MIG_CMD_NAMES: Record<number, string> = {
  [MIG_CMD_INVALID]: "INVALID",
  [MIG_CMD_OPEN_RETURN_PATH]: "OPEN_RETURN_PATH",
  [MIG_CMD_PING]: "PING",
  [MIG_CMD_POSTCOPY_ADVISE]: "POSTCOPY_ADVISE",
  [MIG_CMD_POSTCOPY_LISTEN]: "POSTCOPY_LISTEN",
  [MIG_CMD_POSTCOPY_RUN]: "POSTCOPY_RUN",
  [MIG_CMD_POSTCOPY_RAM_DISCARD]: "POSTCOPY_RAM_DISCARD",
  [MIG_CMD_PACKAGED]: "PACKAGED",
  [MIG_CMD_ENABLE_COLO]: "ENABLE_COLO",
  [MIG_CMD_POSTCOPY_RESUME]: "POSTCOPY_RESUME",
  [MIG_CMD_RECV_BITMAP]: "RECV_BITMAP",
  [MIG_CMD_SWITCHOVER_START]: "SWITCHOVER_START",
};

/** mig_cmd_args[].len: the argument length the loader insists on; -1 = variable. */
export const MIG_CMD_ARG_LEN: Record<number, number> = {
  [MIG_CMD_OPEN_RETURN_PATH]: 0,
  [MIG_CMD_PING]: 4,
  [MIG_CMD_POSTCOPY_ADVISE]: -1,
  [MIG_CMD_POSTCOPY_LISTEN]: 0,
  [MIG_CMD_POSTCOPY_RUN]: 0,
  [MIG_CMD_POSTCOPY_RAM_DISCARD]: -1,
  [MIG_CMD_PACKAGED]: 4,
  [MIG_CMD_ENABLE_COLO]: 0, // not in mig_cmd_args: the zero-initialised entry
  [MIG_CMD_POSTCOPY_RESUME]: 0,
  [MIG_CMD_RECV_BITMAP]: -1,
  [MIG_CMD_SWITCHOVER_START]: 0,
};

/** POSTCOPY_ADVISE with postcopy-ram: be64 page size summary + be64 target page size. */
export const POSTCOPY_ADVISE_RAM_LEN = 16;
/** The only version of the POSTCOPY_RAM_DISCARD argument layout. */
export const POSTCOPY_RAM_DISCARD_VERSION = 0;
/** Nested PACKAGED streams inside PACKAGED: QEMU never nests them; we stop at this depth. */
const MAX_PACKAGED_DEPTH = 4;

export function commandName(cmd: number): string {
  return MIG_CMD_NAMES[cmd] ?? `unknown (${cmd})`;
}

/** What the command decoder needs from the stream decoder. */
export interface CommandHost {
  readonly ctx: DecodeContext;
  readonly commands: CommandInfo[];
  /** Called for POSTCOPY_ADVISE with postcopy-ram: RAM block lists may carry page sizes. */
  postcopyAdvised(): void;
  /** Decode the records of a PACKAGED stream in [start, end) into `into`; returns the reader position. */
  packaged(start: number, end: number, into: VNode[], idPrefix: string): number;
  /** How many PACKAGED streams enclose this command. */
  depth: number;
}

function leaf(
  ctx: DecodeContext,
  kids: VNode[],
  id: string,
  name: string,
  type: string,
  enc: "u8" | "u16" | "u32" | "u64" | undefined,
  value: number | bigint | Uint8Array | undefined,
  s: number,
  e: number,
  detail: string,
): void {
  const n: VNode = ctx.leafAt({ id, kind: "field", name, type, detail }, s, e);
  if (enc !== undefined && value !== undefined) {
    n.enc = enc;
    n.value = value;
  }
  kids.push(n);
}

/** Decode one QEMU_VM_COMMAND record at r.pos into a "command" node appended to `into`. */
export function decodeCommand(host: CommandHost, r: Reader, into: VNode[], id: string): void {
  const ctx = host.ctx;
  const start = r.pos;
  const info: CommandInfo = { name: "?", cmd: -1, offset: start, end: start, nodeId: id, depth: host.depth };
  host.commands.push(info);
  try {
    ctx.wrap(r, into, { id, kind: "command", name: "command", type: "command" }, (kids) => {
      r.u8();
      leaf(ctx, kids, `${id}/$type`, "type", "uint8", "u8", QEMU_VM_COMMAND, start, start + 1, "QEMU_VM_COMMAND");
      const cs = r.pos;
      const cmd = r.u16("command");
      const name = commandName(cmd);
      info.cmd = cmd;
      info.name = name;
      leaf(ctx, kids, `${id}/cmd`, "cmd", "uint16", "u16", cmd, cs, r.pos, `MIG_CMD_${name}`);
      const ls = r.pos;
      const len = r.u16("command length");
      leaf(ctx, kids, `${id}/len`, "len", "uint16", "u16", len, ls, r.pos, `${len} bytes of arguments`);
      const node = into[into.length - 1]!;
      node.name = `MIG_CMD_${name}`;
      node.info = { cmd, len, command: name };
      if (cmd === MIG_CMD_INVALID || cmd >= MIG_CMD_MAX) {
        ctx.diag(
          "error",
          "command-unknown",
          `unknown migration command ${cmd} at ${hex(start)}: QEMU stops here ("unknown command")`,
          { start, end: r.pos },
          id,
        );
      }
      const expect = MIG_CMD_ARG_LEN[cmd];
      if (expect !== undefined && expect >= 0 && expect !== len) {
        ctx.diag(
          "error",
          "command-length",
          `MIG_CMD_${name} at ${hex(start)} has ${len} bytes of arguments, QEMU expects ${expect}`,
          { start: ls, end: ls + 2 },
          id,
        );
      }
      r.need(len, `MIG_CMD_${name} arguments`);
      const ds = r.pos;
      const argsEnd = ds + len;
      let detail = "";
      switch (cmd) {
        case MIG_CMD_PING:
          if (len === 4) {
            const v = r.u32("ping value");
            leaf(ctx, kids, `${id}/value`, "value", "uint32", "u32", v, ds, r.pos, String(v));
            detail = `PING ${v}`;
            info.args = { value: v };
          }
          break;
        case MIG_CMD_POSTCOPY_ADVISE:
          if (len === POSTCOPY_ADVISE_RAM_LEN) {
            const summary = r.u64("ram page size summary");
            leaf(
              ctx,
              kids,
              `${id}/ram_pagesize_summary`,
              "ram_pagesize_summary",
              "uint64",
              "u64",
              summary,
              ds,
              r.pos,
              `${hex(Number(summary))} (OR of the RAM blocks' page sizes)`,
            );
            const ts = r.pos;
            const tps = r.u64("target page size");
            leaf(ctx, kids, `${id}/target_page_size`, "target_page_size", "uint64", "u64", tps, ts, r.pos, String(tps));
            detail = `postcopy-ram, page sizes ${hex(Number(summary))}, target page ${tps}`;
            info.args = { ram_pagesize_summary: Number(summary), target_page_size: Number(tps) };
            host.postcopyAdvised();
          } else if (len === 0) {
            detail = "postcopy of dirty bitmaps only";
            info.args = {};
          } else {
            ctx.diag(
              "error",
              "command-length",
              `MIG_CMD_POSTCOPY_ADVISE at ${hex(start)} has ${len} bytes of arguments, QEMU accepts 0 or 16`,
              { start: ls, end: ls + 2 },
              id,
            );
          }
          break;
        case MIG_CMD_POSTCOPY_RAM_DISCARD:
          detail = decodeDiscard(ctx, r, kids, id, len, info);
          break;
        case MIG_CMD_RECV_BITMAP:
          if (len >= 1) {
            const n = r.u8("block name length");
            if (n + 1 !== len) {
              ctx.diag(
                "error",
                "command-length",
                `MIG_CMD_RECV_BITMAP at ${hex(start)}: name length ${n} does not match the ${len} bytes of arguments`,
                { start: ds, end: ds + 1 },
                id,
              );
            } else {
              const b = r.bytes(n, "block name");
              leaf(ctx, kids, `${id}/block`, "block", "counted string", undefined, undefined, ds, r.pos, text(b));
              kids[kids.length - 1]!.valueSpan = { start: ds + 1, end: r.pos };
              kids[kids.length - 1]!.enc = "cstr8";
              kids[kids.length - 1]!.value = b;
              detail = `block ${JSON.stringify(text(b))}`;
              info.args = { block: text(b) };
            }
          }
          break;
        case MIG_CMD_PACKAGED:
          if (len === 4) {
            const n = r.u32("packaged length");
            leaf(ctx, kids, `${id}/length`, "length", "uint32", "u32", n, ds, r.pos, `${n} bytes`);
            detail = `${n} bytes`;
            info.args = { length: n };
            // the packaged bytes follow the command's arguments
            r.pos = argsEnd;
            if (n > r.remaining)
              throw new DecodeError(
                "truncated",
                `MIG_CMD_PACKAGED at ${hex(start)} wraps ${n} bytes, only ${r.remaining} remain`,
                r.pos,
                n,
                r.remaining,
              );
            if (host.depth >= MAX_PACKAGED_DEPTH)
              throw new DecodeError(
                "packaged-depth",
                `MIG_CMD_PACKAGED at ${hex(start)} is nested ${host.depth + 1} deep; QEMU never nests them`,
                start,
              );
            const ps = r.pos;
            const pkg = ctx.node(
              { id: `${id}/packaged`, kind: "packaged", name: "packaged stream", detail: `${n} bytes`, children: [] },
              ps,
              ps + n,
            );
            kids.push(pkg);
            const end = host.packaged(ps, ps + n, pkg.children!, `${id}/packaged/`);
            if (end < ps + n) {
              pkg.children!.push(
                ctx.node(
                  { id: `${id}/packaged/rest`, kind: "unparsed", name: "after EOF", detail: `${ps + n - end} bytes` },
                  end,
                  ps + n,
                ),
              );
              ctx.diag(
                "warning",
                "packaged-trailing",
                `${ps + n - end} bytes in the packaged stream after its EOF at ${hex(end)}`,
                { start: end, end: ps + n },
                pkg.id,
              );
            }
            r.pos = ps + n;
            node.detail = detail;
            return;
          }
          break;
        default:
          break;
      }
      if (r.pos < argsEnd) {
        const s = r.pos;
        r.pos = argsEnd;
        leaf(
          ctx,
          kids,
          `${id}/data`,
          "data",
          "buffer",
          undefined,
          undefined,
          s,
          argsEnd,
          `${argsEnd - s} bytes: ${hexPreview(ctx.src.read(s, Math.min(16, argsEnd - s)))}`,
        );
      }
      if (detail) node.detail = detail;
    });
  } finally {
    info.end = Math.max(r.pos, start);
  }
}

/** POSTCOPY_RAM_DISCARD (loadvm_postcopy_ram_handle_discard): block name and byte ranges. */
function decodeDiscard(
  ctx: DecodeContext,
  r: Reader,
  kids: VNode[],
  id: string,
  len: number,
  info: CommandInfo,
): string {
  const ds = r.pos;
  if (len < 3) return "";
  const version = r.u8("discard version");
  leaf(ctx, kids, `${id}/version`, "version", "uint8", "u8", version, ds, r.pos, String(version));
  if (version !== POSTCOPY_RAM_DISCARD_VERSION) {
    ctx.diag(
      "error",
      "command-discard",
      `POSTCOPY_RAM_DISCARD at ${hex(ds)} has version ${version}, QEMU only knows ${POSTCOPY_RAM_DISCARD_VERSION}`,
      { start: ds, end: r.pos },
      id,
    );
    return "";
  }
  const ns = r.pos;
  const n = r.u8("block name length");
  if (3 + n > len) {
    ctx.diag(
      "error",
      "command-discard",
      `POSTCOPY_RAM_DISCARD at ${hex(ds)}: block name of ${n} bytes does not fit its ${len} bytes of arguments`,
      { start: ns, end: r.pos },
      id,
    );
    r.pos = ns;
    return "";
  }
  const nameBytes = r.bytes(n, "block name");
  const block = text(nameBytes);
  const nameNode = ctx.leaf(
    r,
    ns,
    {
      id: `${id}/block`,
      kind: "field",
      name: "block",
      type: "counted string",
      value: nameBytes,
      enc: "cstr8",
      detail: block,
    },
    ns + 1,
  );
  kids.push(nameNode);
  const zs = r.pos;
  const nul = r.u8("name terminator");
  leaf(
    ctx,
    kids,
    `${id}/nul`,
    "nul",
    "uint8",
    "u8",
    nul,
    zs,
    r.pos,
    nul === 0 ? "terminator" : `${hex(nul)} (QEMU wants 0: "missing nil")`,
  );
  if (nul !== 0)
    ctx.diag(
      "error",
      "command-discard",
      `POSTCOPY_RAM_DISCARD at ${hex(ds)}: the block name is not followed by a 0 byte`,
      { start: zs, end: r.pos },
      id,
    );
  const rest = len - 3 - n;
  if (rest % 16 !== 0)
    ctx.diag(
      "error",
      "command-discard",
      `POSTCOPY_RAM_DISCARD at ${hex(ds)}: ${rest} bytes of ranges is not a multiple of 16`,
      { start: r.pos, end: ds + len },
      id,
    );
  const count = Math.floor(rest / 16);
  const arr = ctx.node(
    {
      id: `${id}/ranges`,
      kind: "array",
      name: "ranges",
      type: "discard range",
      detail: `${count} ranges`,
      children: [],
      info: { length: count },
    },
    r.pos,
    r.pos + count * 16,
  );
  kids.push(arr);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const s = r.pos;
    const st = r.u64("discard start");
    const ln = r.u64("discard length");
    bytes += Number(ln);
    const el = ctx.from(r, s, {
      id: `${id}/ranges/${i}`,
      kind: "struct",
      name: `ranges[${i}]`,
      type: "struct",
      detail: `${hex(Number(st))} +${hex(Number(ln))}`,
      children: [],
    });
    leaf(ctx, el.children!, `${id}/ranges/${i}/start`, "start", "uint64", "u64", st, s, s + 8, hex(Number(st)));
    leaf(ctx, el.children!, `${id}/ranges/${i}/length`, "length", "uint64", "u64", ln, s + 8, s + 16, hex(Number(ln)));
    arr.children!.push(el);
  }
  info.args = { block, ranges: count, bytes };
  return `${block}: ${count} range${count === 1 ? "" : "s"}, ${bytes} bytes`;
}
