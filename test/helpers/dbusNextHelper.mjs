// A test helper for org.qemu.VMState1 written with dbus-next (configureMembers, no decorators).
// usage: node dbusNextHelper.mjs --address ADDR [--id ID] [--mode MODE] [--payload SPEC] [--delay-ms N] [--flags N]
// MODE: normal | slow (Save waits --delay-ms) | fail (Save answers a D-Bus error) | empty (Save returns 0 bytes)
//       | big (1 MiB + 1 bytes) | noid (no Id property) | exit-during-save (exits without replying)
//       | wrongtype (Save returns a string) | intid (the Id property is a uint32)
// Duplicate Ids: start two helpers with the same --id.
// SPEC: text:STRING | hex:HEX | prng:SEED:LEN | empty (as tools/vmstate_helper.py).
// Prints one JSON line {"ready":true,...} when queued for the name; on each call a JSON event line
// ({"event":"Save"|"Load",...}; "SaveAnswered" when a slow Save replies); Load writes the bytes to --load-out when given.
import dbus from "dbus-next";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    address: { type: "string" },
    id: { type: "string", default: "test-helper" },
    mode: { type: "string", default: "normal" },
    payload: { type: "string" },
    "delay-ms": { type: "string", default: "1500" },
    flags: { type: "string", default: "0" },
    "load-out": { type: "string" },
  },
});
if (!a.address) {
  console.error("--address is required");
  process.exit(2);
}

function prng(seed, n) {
  const out = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(i);
    const d = createHash("sha256")
      .update(Buffer.concat([Buffer.from(seed, "utf8"), c]))
      .digest();
    out.push(d);
    len += d.length;
  }
  return Buffer.concat(out).subarray(0, n);
}
function payloadOf(spec) {
  const i = spec.indexOf(":");
  const kind = i < 0 ? spec : spec.slice(0, i);
  const rest = i < 0 ? "" : spec.slice(i + 1);
  if (kind === "text") return Buffer.from(rest, "utf8");
  if (kind === "hex") return Buffer.from(rest, "hex");
  if (kind === "prng") {
    const j = rest.lastIndexOf(":");
    return prng(rest.slice(0, j), Number(rest.slice(j + 1)));
  }
  if (kind === "empty") return Buffer.alloc(0);
  throw new Error(`bad payload spec ${spec}`);
}
const mode = a.mode;
let payload = payloadOf(a.payload ?? `text:I'am\0${a.id}!\0`);
if (mode === "empty") payload = Buffer.alloc(0);
if (mode === "big") payload = prng(a.id, 1024 * 1024 + 1);
const sha = (b) => createHash("sha256").update(b).digest("hex");
const log = (ev) => process.stdout.write(JSON.stringify({ ...ev, id: a.id, pid: process.pid }) + "\n");

const { Interface, ACCESS_READ } = dbus.interface;
class VMState extends Interface {
  constructor() {
    super("org.qemu.VMState1");
  }
  get Id() {
    return mode === "intid" ? 42 : a.id;
  }
  Load(data) {
    const b = Buffer.from(data);
    if (a["load-out"]) writeFileSync(a["load-out"], b);
    log({ event: "Load", len: b.length, sha256: sha(b), matches_own_payload: b.equals(payload) });
  }
  async Save() {
    log({ event: "Save", len: payload.length });
    if (mode === "fail") throw new dbus.DBusError("org.qemu.VMState1.Error.Failed", "helper told to fail");
    if (mode === "exit-during-save") setImmediate(() => process.exit(3));
    if (mode === "exit-during-save") return new Promise(() => {});
    if (mode === "slow") {
      await new Promise((r) => setTimeout(r, Number(a["delay-ms"])));
      // tests wait for this rather than sleeping: the reply goes out as this method returns
      setImmediate(() => log({ event: "SaveAnswered" }));
    }
    if (mode === "wrongtype") return "not bytes";
    return payload;
  }
}
const properties = mode === "noid" ? {} : { Id: { signature: mode === "intid" ? "u" : "s", access: ACCESS_READ } };
VMState.configureMembers({
  properties,
  methods: {
    Load: { inSignature: "ay", outSignature: "" },
    Save: { inSignature: "", outSignature: mode === "wrongtype" ? "s" : "ay" },
  },
});

const bus = dbus.sessionBus({ busAddress: a.address });
bus.on("error", (e) => {
  console.error(`helper bus error: ${e?.message ?? e}`);
  process.exit(1);
});
bus.export("/org/qemu/VMState1", new VMState());
const reply = await bus.requestName("org.qemu.VMState1", Number(a.flags)); // never DO_NOT_QUEUE
process.stdout.write(
  JSON.stringify({
    ready: true,
    id: a.id,
    unique_name: bus.name,
    request_name_reply: reply,
    payload_len: payload.length,
    payload_sha256: sha(payload),
    pid: process.pid,
    mode,
  }) + "\n",
);
for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => process.exit(0));
// the test keeps our stdin open; when it ends (the test process died), so do we
if (!process.stdin.isTTY) {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}
