#!/usr/bin/python3
"""Make a qcow2 image with internal snapshots (savevm) with real QEMU, and next to it the bare
stream `migrate exec:cat` sent at the same paused moment of each snapshot (identical bytes).

  python3 test/tools/make-qcow2-snapshots.py OUTDIR

OUTDIR/snapshots.qcow2 (1 KiB clusters: one L2 table covers 128 KiB, so the VM state is read
through several; a 7900 KiB disk, whose VM state QEMU puts at 7936 KiB, the next L1 entry boundary, not the next cluster) holds:
  "boot", "mid"  saved, then deleted (their clusters are freed: two holes between disk data)
  2 "early"      intact, contiguous
  3 "frag"       saved after the deletes and a qemu-io write that took the start of the first
                 hole, so its VM state is spread over both holes and the end of the file
  4 "disk-only"  made with qemu-img snapshot -c after QEMU exits (no VM state)
OUTDIR/early.vmstate, OUTDIR/frag.vmstate: the streams of the same moments, and
OUTDIR/snapshots.json: what QEMU's `info snapshots` said.
"""
import json, os, socket, subprocess, sys, time

out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
os.makedirs(out, exist_ok=True)
img = os.path.join(out, "snapshots.qcow2")
for f in ("snapshots.qcow2", "early.vmstate", "frag.vmstate"):
    try: os.unlink(os.path.join(out, f))
    except FileNotFoundError: pass
subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=1024", img, "7900K"], check=True)
sock = os.path.join(out, ".qmp.sock")
q = subprocess.Popen(["qemu-system-x86_64", "-M", "pc-q35-7.2", "-accel", "tcg", "-m", "32M", "-display", "none",
                      # the RTC must run on the VM clock: on the host clock its registers move while
                      # the guest is paused, and savevm and exec:cat would differ in mc146818rtc
                      "-rtc", "base=2020-01-01T00:00:00,clock=vm",
                      "-nodefaults", "-drive", f"file={img},format=qcow2,if=none,id=d0", "-device", "ide-hd,drive=d0,bus=ide.0",
                      "-qmp", f"unix:{sock},server=on,wait=off"])
try:
    for _ in range(100):
        if os.path.exists(sock): break
        time.sleep(0.1)
    s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rw")
    def rd():
        while True:
            m = json.loads(f.readline())
            if "event" not in m: return m
    def qmp(cmd, **args):
        f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n"); f.flush()
        r = rd()
        if "error" in r: raise SystemExit(f"{cmd}: {r['error']}")
        return r["return"]
    def hmp(line):
        r = qmp("human-monitor-command", **{"command-line": line})
        if r.strip(): print(f"hmp {line}: {r.strip()}", file=sys.stderr)
        return r
    rd(); qmp("qmp_capabilities")
    def migrate_to(path):
        qmp("migrate", uri=f"exec:cat > {path}")
        while qmp("query-migrate").get("status") not in ("completed", "failed"): time.sleep(0.05)
        assert qmp("query-migrate")["status"] == "completed"
    def snap(tag, stream):
        qmp("stop"); hmp(f"savevm {tag}")
        if stream: migrate_to(stream)
        qmp("cont")
    time.sleep(0.5); snap("boot", None)
    hmp('qemu-io d0 "write -P 0x11 0 64k"')
    time.sleep(0.3); snap("early", os.path.join(out, "early.vmstate"))
    hmp('qemu-io d0 "write -P 0x22 1M 64k"')
    time.sleep(0.3); snap("mid", None)
    hmp('qemu-io d0 "write -P 0x33 2M 64k"')
    hmp("delvm boot")
    hmp("delvm mid")
    hmp('qemu-io d0 "write -P 0xab 3M 128k"')
    time.sleep(0.3); snap("frag", os.path.join(out, "frag.vmstate"))
    info = hmp("info snapshots")
    qmp("quit")
finally:
    q.wait(timeout=30)
    try: os.unlink(sock)
    except FileNotFoundError: pass
subprocess.run(["qemu-img", "snapshot", "-c", "disk-only", img], check=True)
with open(os.path.join(out, "snapshots.json"), "w") as fp:
    json.dump({"qemu": subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
               "info_snapshots": info, "qemu_img_info": json.loads(subprocess.run(["qemu-img", "info", "--output=json", img], capture_output=True, text=True, check=True).stdout)}, fp, indent=1)
print(info)
