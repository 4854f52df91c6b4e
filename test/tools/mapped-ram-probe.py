#!/usr/bin/python3
"""Independent mapped-ram reader: RAM block contents of a mapped-ram stream, for comparing with
`vmstate ram --extract`.

usage: mapped-ram-probe.py STREAM META.json > PROBE.json

It takes the MappedRamHeader offsets from the fixture maker's own probe (META features
.first_section.ram_blocks[].mapped_ram_header), reads each header again from the stream, the
bitmap as little-endian 64-bit words (x86_64 host), and the present pages at
pages_offset + index * page_size with seek + read (never the whole sparse file). Pages whose bit
is clear are zero. Prints per block: present page count and sha256 of the block's contents.
"""
import hashlib
import json
import struct
import sys


def main():
    stream, meta = sys.argv[1], sys.argv[2]
    blocks = json.load(open(meta))["features"]["first_section"]["ram_blocks"]
    out = {}
    with open(stream, "rb") as f:
        for b in blocks:
            h = b["mapped_ram_header"]
            f.seek(h["offset"])
            version, page_size, bitmap_offset, pages_offset = struct.unpack(">IQQQ", f.read(28))
            assert (version, page_size, bitmap_offset, pages_offset) == (h["version"], h["page_size"], h["bitmap_offset"], h["pages_offset"])
            used = b["used_length"]
            npages = (used + page_size - 1) // page_size
            nwords = (npages + 63) // 64
            f.seek(bitmap_offset)
            words = struct.unpack("<%dQ" % nwords, f.read(8 * nwords))
            data = bytearray(used)
            present = 0
            for i in range(npages):
                if words[i // 64] >> (i % 64) & 1:
                    f.seek(pages_offset + i * page_size)
                    page = f.read(min(page_size, used - i * page_size))
                    assert len(page) == min(page_size, used - i * page_size)
                    data[i * page_size:i * page_size + len(page)] = page
                    present += 1
            out[b["idstr"]] = {"size": used, "pages": npages, "present": present,
                               "sha256": hashlib.sha256(data).hexdigest()}
    json.dump({"ram_blocks": out}, sys.stdout, indent=2)
    print()


main()
