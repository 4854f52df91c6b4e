"""What the two GDBus org.qemu.VMState1 helpers share: tools/vmstate_helper.py (the helper QEMU
talks to when fixtures are made) and helpers/gdbus_helper.py (the one the client's tests drive).
The interface, payload specs, the connection, Save's reply, Load's bytes, queueing for the name.
Needs Debian's python3-gi (run with /usr/bin/python3).
"""
import hashlib
import signal

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
    """Deterministic bytes: sha256(seed || be32 counter) blocks, truncated."""
    out = bytearray()
    i = 0
    s = seed.encode("utf-8")
    while len(out) < n:
        out += hashlib.sha256(s + i.to_bytes(4, "big")).digest()
        i += 1
    return bytes(out[:n])


def make_payload(spec):
    """spec: text:STRING | hex:HEX | file:PATH | prng:SEED:LEN | empty"""
    kind, _, rest = spec.partition(":")
    if kind == "text":
        return rest.encode("utf-8")
    if kind == "hex":
        return bytes.fromhex(rest)
    if kind == "file":
        with open(rest, "rb") as f:
            return f.read()
    if kind == "prng":
        seed, _, ln = rest.rpartition(":")
        return prng_bytes(seed, int(ln))
    if kind == "empty":
        return b""
    raise SystemExit("bad payload spec %r" % spec)


def connect(address):
    return Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)


def reply_save(inv, payload):
    """Answers a Save call with the payload as an ay."""
    ay = GLib.Variant.new_from_bytes(GLib.VariantType.new("ay"), GLib.Bytes.new(payload), True)
    inv.return_value(GLib.Variant.new_tuple(ay))


def load_bytes(params, out=None):
    """The bytes of a Load(ay) call; written to `out` too when given."""
    gb = params.get_child_value(0).get_data_as_bytes()
    data = bytes((gb.get_data() if gb is not None else b"") or b"")
    if out:
        with open(out, "wb") as f:
            f.write(data)
    return data


def export_and_queue(conn, xml, method_call, ident, flags):
    """Exports PATH with the interface in `xml` (Id = ident) and calls RequestName(NAME, flags)
    without DO_NOT_QUEUE; returns its reply (1 primary owner, 2 in queue, 3 exists, 4 already owner)."""
    def get_property(connection, sender, path, iname, prop):
        if prop == "Id":
            return GLib.Variant("s", ident)
        return None

    iface = Gio.DBusNodeInfo.new_for_xml(xml).interfaces[0]
    conn.register_object(PATH, iface, method_call, get_property, None)
    r = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "RequestName", GLib.Variant("(su)", (NAME, flags)),
                       GLib.VariantType.new("(u)"), Gio.DBusCallFlags.NONE, -1, None)
    return r.unpack()[0]


def quit_on_signals(loop):
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, lambda *x: (loop.quit(), False)[1])
