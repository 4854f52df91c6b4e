#!/usr/bin/python3
"""Make the real QEMU 7.2 stream pairs of test/fixtures/diff/ (vmstate diff's tests).

  /usr/bin/python3 test/tools/make-diff-fixtures.py [OUTDIR]    (default test/fixtures/diff)

One paused q35 guest (32 MiB, TCG) whose RAM is a shared memory-backend-file in /dev/shm, so the
host can write guest RAM while QEMU runs. QEMU 7.2 will not migrate a VM twice ("Can't migrate
the vm that was paused due to previous migration"), so each save is restored into a fresh QEMU
(-incoming "exec:cat FILE", the guest stays paused) and saved again from there:

  paused-1.vmstate   first save of the paused guest
  paused-2.vmstate   paused-1 restored and saved again, nothing changed (only timer-like fields differ)
  pattern.vmstate    paused-2 restored, the host writes known bytes into guest RAM (PATTERN below)
                     and it is saved: exactly those pages of pc.ram differ from paused-2
  twin.vmstate       the same command line started again a little later and saved: a second
                     cold start of the same paused guest, where only the RTC's wall-clock
                     fields (timer-like) differ from paused-1

Each stream gets FILE.meta.json (QEMU version, command line, ...) and pairs.json records the
pattern (guest addresses, lengths, bytes) the tests check against. Migration is
migrate "exec:cat > FILE" (vmsfix.py); x-ignore-shared is NOT set, so the shared RAM is sent.
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmsfix  # noqa: E402

# (guest-physical offset in pc.ram, length, byte) -- page aligned and not, one page, several pages
PATTERN = [
    (0x100000, 3 * 4096, 0xA5),   # three whole pages
    (0x1F0010, 16, 0x5A),         # 16 bytes inside one page
    (0x0FF000, 4096, 0x00),       # a page that stays zero: written with zeros, must NOT differ
]


def migrate(qmp, out):
    if os.path.exists(out):
        os.unlink(out)
    qmp.cmd("migrate", {"uri": "exec:cat > %s" % out})
    t0 = time.time()
    while True:
        st = qmp.cmd("query-migrate")
        if st.get("status") in ("completed", "failed", "cancelled"):
            break
        if time.time() - t0 > 120:
            raise vmsfix.QMPError("migration timeout")
        time.sleep(0.05)
    if st.get("status") != "completed":
        raise vmsfix.QMPError("migration %s: %s" % (st.get("status"), st.get("error-desc")))
    return st


def main():
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures", "diff"))
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="vmstate-diff-")
    shm = "/dev/shm/qemu-vmstate-diff-%d" % os.getpid()
    args = ["-M", "pc-q35-7.2,memory-backend=mem", "-accel", "tcg", "-m", "32M",
            "-object", "memory-backend-file,id=mem,size=32M,mem-path=%s,share=on" % shm]
    files = {}
    prev = None
    try:
        for name in ("paused-1", "paused-2", "pattern", "twin"):
            if name == "twin":
                prev = None
                time.sleep(1.5)  # the RTC counts seconds of host wall-clock time
                try:
                    os.unlink(shm)
                except OSError:
                    pass
            incoming = ["-incoming", "exec:cat %s" % prev] if prev else []
            proc, qmp, argv, errlog = vmsfix._start_qemu("qemu-system-x86_64", args + incoming, work, name)
            try:
                greeting = qmp.greeting["QMP"]["version"]
                if prev:
                    t0 = time.time()
                    while qmp.cmd("query-migrate").get("status") != "completed":
                        if time.time() - t0 > 120 or proc.poll() is not None:
                            raise vmsfix.QMPError("restoring %s failed" % prev)
                        time.sleep(0.05)
                status = qmp.cmd("query-status")
                assert not status["running"], status
                if name == "pattern":
                    # write the pattern into guest RAM through the shared backing file
                    with open(shm, "r+b") as f:
                        for off, n, byte in PATTERN:
                            f.seek(off)
                            f.write(bytes([byte]) * n)
                out = os.path.join(out_dir, name + ".vmstate")
                st = migrate(qmp, out)
                files[name] = (out, {"argv": argv, "qmp_greeting_version": greeting, "query_migrate_final": st, "status_before": status})
                prev = out
            finally:
                vmsfix._stop_qemu(proc, qmp)
    finally:
        try:
            os.unlink(shm)
        except OSError:
            pass
    descs = {
        "paused-1": "pc-q35-7.2, 32M shared RAM, paused (-S): first of three saves from one QEMU process",
        "paused-2": "paused-1 restored into a fresh QEMU (still paused) and saved again: only timer-like fields differ",
        "twin": "the command line of paused-1 started again 1.5 s later and saved: only the RTC's wall-clock fields differ",
        "pattern": "paused-2 restored into a fresh QEMU, PATTERN written into its RAM by the host (see pairs.json), saved",
    }
    for name, (out, f) in files.items():
        vmsfix.write_meta(out, f, descs[name], "test/tools/make-diff-fixtures.py")
        print("%s: %d bytes" % (os.path.basename(out), os.path.getsize(out)))
    with open(os.path.join(out_dir, "pairs.json"), "w") as fh:
        json.dump({
            "pattern": [{"addr": a, "length": n, "byte": b} for a, n, b in PATTERN],
            "block": "mem",
            "pairs": {
                "paused-1 vs paused-2": "same guest, nothing changed: only timer-like device fields differ, RAM equal",
                "paused-1 vs twin": "two cold starts of the same paused guest: only mc146818rtc wall-clock fields differ",
                "paused-2 vs pattern": "pages 0x100000-0x102fff (0xa5) and 0x1f0000 (16 bytes 0x5a at +0x10) of the RAM block \"mem\" (the memory backend) differ, zero -> data; the page at 0xff000 was rewritten with zeros and does not differ",
            },
        }, fh, indent=2)
        fh.write("\n")


if __name__ == "__main__":
    main()
