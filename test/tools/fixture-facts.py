#!/usr/bin/python3
"""Print byte-level facts about fixture streams (verification aid for
test/fixtures/gen/README.md; not a decoder for the extension).

usage: fixture-facts.py STREAM... [--json]

Absolute file offsets of: configuration section and each subsection (and
its value), the ram START section and per RAM block its idstr, used_length
and (with x-ignore-shared) mr_addr fields, whether a footer follows the ram
setup, the legacy `block` section's records, the dbus-vmstate section and
entries, the EOF byte, and the vmdesc (offset, length, page_size).
"""
import hashlib
import json
import os
import struct
import sys


def be32(d, o):
    return struct.unpack_from(">I", d, o)[0]


def be64(d, o):
    return struct.unpack_from(">Q", d, o)[0]


def facts(path):
    d = open(path, "rb").read()
    r = {"file": os.path.basename(path), "size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
         "magic_version_hex": d[:8].hex(" ")}
    p = 8
    ignore_shared = False
    if d[p] == 0x07:
        n = be32(d, p + 1)
        cfg = {"offset": p, "machine": d[p + 5:p + 5 + n].decode(), "subsections": []}
        p += 5 + n
        while d[p] == 0x05:
            l = d[p + 1]
            name = d[p + 2:p + 2 + l].decode()
            sub = {"offset": p, "name": name, "version": be32(d, p + 2 + l), "value_offset": p + 6 + l}
            q = p + 6 + l
            if name.endswith("target-page-bits"):
                sub["target_page_bits"] = be32(d, q)
                q += 4
            elif name.endswith("capabilities"):
                cnt = be32(d, q)
                q += 4
                caps = []
                for _ in range(cnt):
                    caps.append(d[q + 1:q + 1 + d[q]].decode())
                    q += 1 + d[q]
                sub["capabilities"] = caps
                ignore_shared = ignore_shared or "x-ignore-shared" in caps
            elif name.endswith("uuid"):
                sub["uuid"] = d[q:q + 16].hex()
                q += 16
            sub["end"] = q
            cfg["subsections"].append(sub)
            p = q
        cfg["end"] = p
        r["configuration"] = cfg
    else:
        r["configuration"] = None
    r["first_section_offset"] = p
    r["first_section"] = d[p + 6:p + 6 + d[p + 5]].decode() if d[p] in (1, 4) else None
    # vmdesc
    vm = None
    i = d.rfind(b"\x06")
    while i > 0:
        if i + 5 <= len(d) and i + 5 + be32(d, i + 1) == len(d) and d[i + 5:i + 6] == b"{":
            vm = i
            break
        i = d.rfind(b"\x06", 0, i)
    if vm is not None:
        js = json.loads(d[vm + 5:])
        r["vmdesc"] = {"offset": vm, "json_offset": vm + 5, "json_length": be32(d, vm + 1),
                       "page_size": js.get("page_size"), "devices": len(js["devices"]),
                       "has_configuration_key": "configuration" in js,
                       "block_in_vmdesc": any(x["name"] == "block" for x in js["devices"])}
        r["eof_offset"] = vm - 1
    else:
        r["vmdesc"] = None
        r["eof_offset"] = len(d) - 1 if d[-1] == 0 else None
    # ram START
    needle = b"\x03ram\x00\x00\x00\x00\x00\x00\x00\x04"
    k = d.find(needle, p)
    if k >= 6 and d[k - 5] == 0x01:
        hs = k - 5
        sid = be32(d, hs + 1)
        q = k + len(needle)
        total = be64(d, q) & ~0xfff
        ram = {"start_offset": hs, "section_id": sid, "total_offset": q, "total_bytes": total, "blocks": []}
        q += 8
        rem = total
        while rem > 0:
            b = {"offset": q, "idstr": d[q + 1:q + 1 + d[q]].decode()}
            q += 1 + d[q]
            b["used_length_offset"] = q
            b["used_length"] = be64(d, q)
            q += 8
            if ignore_shared:
                b["mr_addr_offset"] = q
                b["mr_addr"] = hex(be64(d, q))
                q += 8
            rem -= b["used_length"]
            ram["blocks"].append(b)
        ram["eos_offset"] = q
        q += 8
        ram["footer_after_setup"] = d[q] == 0x7E and be32(d, q + 1) == sid
        ram["byte_after_setup"] = "0x%02x @%d" % (d[q], q)
        r["ram"] = ram
    # legacy block migration
    k = d.find(b"\x05block\x00\x00\x00\x00\x00\x00\x00\x01", p)
    if k >= 5 and d[k - 5] == 0x01:
        sid = be32(d, k - 4)
        recs = []
        pos = 0
        while True:
            pos = d.find(struct.pack(">I", sid), pos + 1)
            if pos < 0 or (vm is not None and pos > vm):
                break
            if d[pos - 1] not in (1, 2, 3) or (d[pos - 1] == 1 and pos != k - 4):
                continue
            q = pos + 4 + (d[pos + 4] + 1 + 8 if d[pos - 1] == 1 else 0)
            sec = []
            ok = True
            while q + 8 <= len(d):
                v = be64(d, q)
                fl = v & 0x1ff
                if fl == 0 or fl & ~0xf:
                    ok = False
                    break
                rec = {"offset": q, "flags": hex(fl), "sector_or_progress": v >> 9}
                q += 8
                if fl & 1:
                    rec["device"] = d[q + 1:q + 1 + d[q]].decode()
                    q += 1 + d[q]
                    if not fl & 8:
                        rec["data_offset"] = q
                        rec["data_len"] = 1 << 20
                        rec["data_sha256"] = hashlib.sha256(d[q:q + (1 << 20)]).hexdigest()
                        q += 1 << 20
                sec.append(rec)
                if fl & 2:
                    break
            if ok and d[q] == 0x7E and be32(d, q + 1) == sid:
                recs.append({"section_type": d[pos - 1], "header_offset": pos - 1, "footer_offset": q,
                             "records": sec})
        r["block"] = recs
    # dbus-vmstate
    k = d.find(b"\x19dbus-vmstate/dbus-vmstate")
    if k > 5 and d[k - 5] == 0x04:
        q = k + 26 + 8
        size = be32(d, q)
        buf = q + 4
        cnt = be32(d, buf)
        ent = []
        e = buf + 4
        for _ in range(cnt):
            il = be32(d, e)
            if il == 0 or il > 255:
                break
            idb = d[e + 4:e + 4 + il]
            dl = be32(d, e + 4 + il)
            ent.append({"offset": e, "id": idb.decode(), "id_len": il, "data_len": dl,
                        "data_offset": e + 8 + il,
                        "data_sha256": hashlib.sha256(d[e + 8 + il:e + 8 + il + dl]).hexdigest()})
            e += 8 + il + dl
        r["dbus_vmstate"] = {"header_offset": k - 5, "section_id": be32(d, k - 4), "data_size_offset": q,
                             "data_size": size, "buffer_offset": buf, "count": cnt, "entries": ent,
                             "used_bytes": e - buf, "padding_offset": e, "padding_len": buf + size - e,
                             "padding_all_zero": not any(d[e:buf + size]),
                             "footer_after": d[buf + size] == 0x7E}
    meta = path + ".meta.json"
    if os.path.exists(meta):
        m = json.load(open(meta))
        rt = m.get("roundtrip_load") or {}
        st = rt.get("dest_status") or (rt.get("query_migrate_final") or {}).get("status")
        r["roundtrip"] = st
    return r


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    out = [facts(a) for a in args]
    print(json.dumps(out if len(out) > 1 else out[0], indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
