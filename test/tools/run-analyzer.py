#!/usr/bin/python3
"""Run QEMU's own scripts/analyze-migration.py on fixture streams.

usage: run-analyzer.py --analyzer PATH STREAM...

For each STREAM (run in an empty temporary folder):
  * `-d state`: on success its stdout is saved as STREAM.analyzer-state.json.gz
    (gzip -n, deterministic); on failure STREAM.analyzer-fail.txt gets the
    command, exit status and stderr (paths shortened to <tmp>).
  * `-x`: STREAM.analyzer.json gets both runs' status and, per extracted RAM
    block, the size, sha256 and number of non-zero 4 KiB pages.
Old failure/state files of the stream are removed first.
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile


def root_cause(stderr):
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    return lines[-1].strip() if lines else None


def run(analyzer, stream, mode, work):
    r = subprocess.run(["/usr/bin/python3", analyzer, "-f", stream] + mode, cwd=work,
                       capture_output=True)
    err = r.stderr.decode("utf-8", "replace").replace(work, "<tmp>").replace(
        os.path.dirname(analyzer), "<analyzer-dir>")
    return r.returncode, r.stdout, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--analyzer", required=True)
    ap.add_argument("--max-state-gz", type=int, default=0,
                    help="do not keep a state .json.gz larger than this many bytes (0: no limit)")
    ap.add_argument("streams", nargs="+")
    a = ap.parse_args()
    analyzer = os.path.abspath(a.analyzer)
    md5 = hashlib.md5(open(analyzer, "rb").read()).hexdigest()
    for s in a.streams:
        s = os.path.abspath(s)
        base = os.path.basename(s)
        for suf in (".analyzer-state.json.gz", ".analyzer-fail.txt", ".analyzer.json"):
            if os.path.exists(s + suf):
                os.unlink(s + suf)
        rep = {"stream": base,
               "analyzer": {"md5": md5,
                            "origin": "scripts/analyze-migration.py of Debian source package qemu "
                                      "1:7.2+dfsg-7+deb12u18 with Debian's v7.2.x stable diffs applied "
                                      "(test/tools/get-analyzer.sh)"}}
        fails = []
        with tempfile.TemporaryDirectory(prefix="analyzer-") as work:
            rc, out, err = run(analyzer, s, ["-d", "state"], work)
            rep["state_run"] = {"command": "analyze-migration.py -f %s -d state" % base, "rc": rc,
                                "root_cause": root_cause(err) if rc else None}
            if rc == 0:
                gz = gzip.compress(out, mtime=0)
                if a.max_state_gz and len(gz) > a.max_state_gz:
                    rep["state_run"]["state_gz_omitted"] = (
                        "the gzipped -d state output is %d bytes (stdout %d bytes, sha256 %s); "
                        "not kept, re-run test/tools/run-analyzer.py to get it"
                        % (len(gz), len(out), hashlib.sha256(out).hexdigest()))
                else:
                    with open(s + ".analyzer-state.json.gz", "wb") as f:
                        f.write(gz)
                rep["state_run"]["sections"] = list(json.loads(out).keys())
            else:
                fails.append(("-d state", rc, err, out))
        with tempfile.TemporaryDirectory(prefix="analyzer-") as work:
            rc, out, err = run(analyzer, s, ["-x"], work)
            rep["extract_run"] = {"command": "analyze-migration.py -f %s -x   (in an empty folder)" % base,
                                  "rc": rc, "root_cause": root_cause(err) if rc else None,
                                  "stdout_lines": out.decode("utf-8", "replace").splitlines()}
            blocks = {}
            for line in rep["extract_run"]["stdout_lines"]:
                p = os.path.join(work, line.lstrip("/")) if False else os.path.join(work, line)
                if line in ("desc.json", "state.json") or not os.path.isfile(p):
                    continue
                d = open(p, "rb").read()
                nz = sum(1 for i in range(0, len(d), 4096) if any(d[i:i + 4096]))
                blocks[line] = {"size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                                "nonzero_pages": nz}
            rep["extract_run"]["ram_blocks"] = blocks
            if rc:
                fails.append(("-x", rc, err, out))
        if fails:
            with open(s + ".analyzer-fail.txt", "w") as f:
                f.write("QEMU 7.2 scripts/analyze-migration.py (md5 %s) on %s\n" % (md5, base))
                for mode, rc, err, out in fails:
                    f.write("\n$ python3 analyze-migration.py -f %s %s\nexit status %d\n" % (base, mode, rc))
                    f.write("--- stderr ---\n%s" % err)
                    f.write("--- stdout: %d bytes ---\n" % len(out))
        with open(s + ".analyzer.json", "w") as f:
            json.dump(rep, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print("%s: state rc=%s %s; -x rc=%s %s" % (base, rep["state_run"]["rc"], rep["state_run"]["root_cause"] or "",
                                                 rep["extract_run"]["rc"], rep["extract_run"]["root_cause"] or ""))


if __name__ == "__main__":
    main()
