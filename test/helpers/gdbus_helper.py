#!/usr/bin/python3
"""An org.qemu.VMState1 test helper built on GLib's GDBus (the library QEMU and its own
test helpers use), so that a mistake shared by our dbus-next client and our dbus-next
helpers shows.  Modelled on the project's tools/vmstate_helper.py.

usage: gdbus_helper.py --address ADDR --id ID [--payload SPEC] [--mode MODE] [--delay-ms N]
                       [--flags N] [--load-out FILE]
SPEC: text:S | hex:H | prng:SEED:LEN | empty
MODE: normal | fail | slow | noid | exit-during-save

Prints {"ready": true, ...} on stdout once it is queued for org.qemu.VMState1, then one
JSON line per Save/Load.  Run with Debian's /usr/bin/python3 (python3-gi).
"""
import argparse
import hashlib
import json
import os
import signal
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.qemu.VMState1"
PATH = "/org/qemu/VMState1"
XML_WITH_ID = """
<node><interface name="org.qemu.VMState1">
  <property name="Id" type="s" access="read"/>
  <method name="Load"><arg type="ay" name="data" direction="in"/></method>
  <method name="Save"><arg type="ay" name="data" direction="out"/></method>
</interface></node>"""
XML_NO_ID = XML_WITH_ID.replace('<property name="Id" type="s" access="read"/>', "")


def prng_bytes(seed, n):
    out = bytearray()
    i = 0
    s = seed.encode("utf-8")
    while len(out) < n:
        out += hashlib.sha256(s + i.to_bytes(4, "big")).digest()
        i += 1
    return bytes(out[:n])


def make_payload(spec):
    kind, _, rest = spec.partition(":")
    if kind == "text":
        return rest.encode("utf-8")
    if kind == "hex":
        return bytes.fromhex(rest)
    if kind == "prng":
        seed, _, ln = rest.rpartition(":")
        return prng_bytes(seed, int(ln))
    if kind == "empty":
        return b""
    raise SystemExit("bad payload spec %r" % spec)


def emit(ev):
    print(json.dumps(ev), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--payload", default=None)
    ap.add_argument("--mode", default="normal")
    ap.add_argument("--delay-ms", type=int, default=1500)
    ap.add_argument("--flags", type=int, default=0)
    ap.add_argument("--load-out")
    a = ap.parse_args()
    payload = make_payload(a.payload) if a.payload else ("I'am\0%s!\0" % a.id).encode()

    conn = Gio.DBusConnection.new_for_address_sync(
        a.address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    xml = XML_NO_ID if a.mode == "noid" else XML_WITH_ID
    iface = Gio.DBusNodeInfo.new_for_xml(xml).interfaces[0]
    loop = GLib.MainLoop()

    def reply_save(inv):
        ay = GLib.Variant.new_from_bytes(GLib.VariantType.new("ay"), GLib.Bytes.new(payload), True)
        inv.return_value(GLib.Variant.new_tuple(ay))
        return False

    def method_call(connection, sender, path, iname, method, params, inv):
        if method == "Save":
            emit({"event": "Save", "len": len(payload), "id": a.id, "pid": os.getpid()})
            if a.mode == "fail":
                inv.return_dbus_error("org.qemu.VMState1.Error.Failed", "gdbus helper told to fail")
            elif a.mode == "exit-during-save":
                os._exit(3)
            elif a.mode == "slow":
                GLib.timeout_add(a.delay_ms, reply_save, inv)
            else:
                reply_save(inv)
        elif method == "Load":
            gb = params.get_child_value(0).get_data_as_bytes()
            data = bytes(gb.get_data() or b"") if gb is not None else b""
            if a.load_out:
                with open(a.load_out, "wb") as f:
                    f.write(data)
            emit({"event": "Load", "len": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                  "matches_own_payload": data == payload, "id": a.id, "pid": os.getpid()})
            inv.return_value(None)
        else:
            inv.return_dbus_error("org.freedesktop.DBus.Error.UnknownMethod", method)

    def get_property(connection, sender, path, iname, prop):
        if prop == "Id":
            return GLib.Variant("s", a.id)
        return None

    conn.register_object(PATH, iface, method_call, get_property, None)
    r = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "RequestName", GLib.Variant("(su)", (NAME, a.flags)),
                       GLib.VariantType.new("(u)"), Gio.DBusCallFlags.NONE, -1, None)
    emit({"ready": True, "id": a.id, "unique_name": conn.get_unique_name(),
          "request_name_reply": r.unpack()[0], "payload_len": len(payload),
          "payload_sha256": hashlib.sha256(payload).hexdigest(), "pid": os.getpid(), "mode": a.mode})
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda *x: (loop.quit(), False)[1])
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda *x: (loop.quit(), False)[1])
    if not os.isatty(0):
        # the test keeps our stdin open; when it closes (the test process died), exit
        GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT,
                          GLib.IOCondition.HUP | GLib.IOCondition.IN,
                          lambda ch, cond: (loop.quit(), False)[1] if not os.read(0, 4096) else True)
    loop.run()


if __name__ == "__main__":
    sys.exit(main())
