// Address parsing and the QEMU rules, without a bus.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBusAddress, validateBusAddress, toDbusNextAddress, isLocalAddress } from "../../src/bus/address";
import { checkId, checkSave, compareBytes, DBUS_VMSTATE_SIZE_LIMIT } from "../../src/bus/rules";

test("unix:path addresses parse, %-escapes decode, guid is ignored", () => {
  const [a] = parseBusAddress("unix:path=/tmp/x%20y/bus.sock,guid=0123456789abcdef");
  assert.deepEqual(a && { t: a.transport, p: a.transport === "unix" ? a.path : "" }, {
    t: "unix",
    p: "/tmp/x y/bus.sock",
  });
  assert.equal(toDbusNextAddress(a!), "unix:path=/tmp/x y/bus.sock");
  assert.equal(isLocalAddress(a!), true);
});

test("tcp addresses need a port; host defaults to localhost", () => {
  const [a] = parseBusAddress("tcp:port=4000");
  assert.equal(a?.transport === "tcp" && `${a.host}:${a.port}`, "localhost:4000");
  assert.equal(
    toDbusNextAddress(parseBusAddress("tcp:host=10.0.0.2,port=55,family=ipv4")[0]!),
    "tcp:host=10.0.0.2,port=55",
  );
  assert.equal(isLocalAddress(parseBusAddress("tcp:host=10.0.0.2,port=55")[0]!), false);
  assert.match(validateBusAddress("tcp:host=x")!, /no port=/);
  assert.match(validateBusAddress("tcp:host=x,port=0")!, /not 1\.\.65535/);
  assert.match(validateBusAddress("tcp:host=x,port=99999")!, /not 1\.\.65535/);
});

test("lists try each entry", () => {
  assert.equal(parseBusAddress("unix:path=/a;tcp:port=1;").length, 2);
});

test("unusable addresses are refused with a reason", () => {
  assert.match(validateBusAddress("unix:abstract=/tmp/dbus-XYZ")!, /usocket/);
  assert.match(validateBusAddress("unix:tmpdir=/tmp")!, /listen-only/);
  assert.match(validateBusAddress("unix:runtime=yes")!, /listen-only/);
  assert.match(validateBusAddress("")!, /empty/);
  assert.match(validateBusAddress("   ")!, /empty/);
  assert.match(validateBusAddress("/run/bus.sock")!, /not a D-Bus address/);
  assert.match(validateBusAddress("unix:path=")!, /empty path/);
  assert.match(validateBusAddress("unix:foo=bar")!, /no path=/);
  assert.match(validateBusAddress("unix:path=/a,path=/b")!, /twice/);
  assert.match(validateBusAddress("unix:path=/a%2")!, /bad %-escape/);
  assert.match(validateBusAddress("unix:path=/a%2cb")!, /cannot pass through/);
  assert.match(validateBusAddress("unixexec:path=/bin/sh")!, /not supported/);
  assert.match(validateBusAddress("launchd:env=X")!, /not supported/);
  assert.match(validateBusAddress("foo:bar=1")!, /unknown transport/);
  assert.match(validateBusAddress("unix:path")!, /not key=value/);
  assert.equal(validateBusAddress("unix:path=/run/user/1000/bus"), undefined);
});

test("Id rules: missing, length, duplicates", () => {
  const all = [
    { uniqueName: ":1.1", id: "a" },
    { uniqueName: ":1.2", id: "a" },
    { uniqueName: ":1.3", id: "" },
    { uniqueName: ":1.4", id: "é".repeat(128) }, // 256 bytes
    { uniqueName: ":1.5", id: null, idError: "VMState Id property is missing." },
    { uniqueName: ":1.6", id: "x".repeat(255) },
  ];
  const by = (i: number) => Object.fromEntries(checkId(all[i]!, all).map((r) => [r.rule, r.ok]));
  assert.deepEqual(by(0), { "id-present": true, "id-length": true, "id-unique": false });
  assert.match(checkId(all[0]!, all).find((r) => r.rule === "id-unique")!.message, /:1\.2.*Duplicated VMState Id/);
  assert.deepEqual(by(2), { "id-present": true, "id-length": false, "id-unique": true });
  assert.deepEqual(by(3), { "id-present": true, "id-length": false, "id-unique": true });
  assert.deepEqual(by(4), { "id-present": false, "id-length": false, "id-unique": false });
  assert.equal(checkId(all[4]!, all)[1]!.skipped, true);
  assert.deepEqual(by(5), { "id-present": true, "id-length": true, "id-unique": true });
});

test("Save rules: answers, fast, size limit, not empty", () => {
  const ok = (s: Parameters<typeof checkSave>[0], slow?: number) =>
    Object.fromEntries(checkSave(s, slow).map((r) => [r.rule, r.ok]));
  assert.deepEqual(ok({ ok: true, size: 10, ms: 3 }), {
    "save-answers": true,
    "save-fast": true,
    "size-limit": true,
    "not-empty": true,
  });
  assert.deepEqual(ok({ ok: true, size: DBUS_VMSTATE_SIZE_LIMIT, ms: 3 })["size-limit"], true);
  assert.deepEqual(ok({ ok: true, size: DBUS_VMSTATE_SIZE_LIMIT + 1, ms: 3 })["size-limit"], false);
  assert.deepEqual(ok({ ok: true, size: 0, ms: 3 })["not-empty"], false);
  assert.deepEqual(ok({ ok: true, size: 1, ms: 600 }, 500)["save-fast"], false);
  const failed = checkSave({ ok: false, error: "boom" });
  assert.equal(failed[0]!.message, "boom");
  assert.ok(failed.slice(1).every((r) => r.skipped && !r.ok));
});

test("compareBytes finds the first difference", () => {
  assert.deepEqual(compareBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), { equal: true, size: 3 });
  const d = compareBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 9, 3));
  assert.equal(!d.equal && d.offset, 1);
  assert.match(!d.equal ? d.message : "", /offset 1 \(0x1\): live 0x02, stream 0x09/);
  const s = compareBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3));
  assert.equal(!s.equal && s.offset, 2);
  assert.match(!s.equal ? s.message : "", /live end of data, stream 0x03; sizes 2 \(live\) vs 3 \(stream\)/);
  assert.equal(compareBytes(new Uint8Array(0), new Uint8Array(0)).equal, true);
});
