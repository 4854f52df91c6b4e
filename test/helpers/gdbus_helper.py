#!/usr/bin/python3
"""An org.qemu.VMState1 test helper built on GLib's GDBus (the library QEMU and its own
test helpers use), so that a mistake shared by our dbus-next client and our dbus-next
helpers shows.  It shares its D-Bus plumbing with tools/vmstate_helper.py (tools/vmstate1_gdbus.py).

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
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from vmstate1_gdbus import (XML_NO_ID, XML_WITH_ID, GLib, connect, export_and_queue,  # noqa: E402
                            load_bytes, make_payload, quit_on_signals, reply_save)


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

    conn = connect(a.address)
    loop = GLib.MainLoop()

    def reply_later(inv):
        reply_save(inv, payload)
        return False

    def method_call(connection, sender, path, iname, method, params, inv):
        if method == "Save":
            emit({"event": "Save", "len": len(payload), "id": a.id, "pid": os.getpid()})
            if a.mode == "fail":
                inv.return_dbus_error("org.qemu.VMState1.Error.Failed", "gdbus helper told to fail")
            elif a.mode == "exit-during-save":
                os._exit(3)
            elif a.mode == "slow":
                GLib.timeout_add(a.delay_ms, reply_later, inv)
            else:
                reply_save(inv, payload)
        elif method == "Load":
            data = load_bytes(params, a.load_out)
            emit({"event": "Load", "len": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                  "matches_own_payload": data == payload, "id": a.id, "pid": os.getpid()})
            inv.return_value(None)
        else:
            inv.return_dbus_error("org.freedesktop.DBus.Error.UnknownMethod", method)

    reply = export_and_queue(conn, XML_NO_ID if a.mode == "noid" else XML_WITH_ID, method_call, a.id, a.flags)
    emit({"ready": True, "id": a.id, "unique_name": conn.get_unique_name(),
          "request_name_reply": reply, "payload_len": len(payload),
          "payload_sha256": hashlib.sha256(payload).hexdigest(), "pid": os.getpid(), "mode": a.mode})
    quit_on_signals(loop)
    if not os.isatty(0):
        # the test keeps our stdin open; when it closes (the test process died), exit
        GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT,
                          GLib.IOCondition.HUP | GLib.IOCondition.IN,
                          lambda ch, cond: (loop.quit(), False)[1] if not os.read(0, 4096) else True)
    loop.run()


if __name__ == "__main__":
    sys.exit(main())
