// A lag probe for the benchmark: the extension host's event loop is never blocked for long when
// an interval timer always fires on time. With QEMU_VMSTATE_LAG_FILE set (test/e2e/perf.js does),
// a 10 ms timer appends "epochMs delayMs busyMs" for every tick that came more than 5 ms late, so
// a test can take the worst delay over each phase (open, edit, undo, redo, save). busyMs is how
// long the event loop was running code in that interval (performance.eventLoopUtilization): a
// late tick with little busy time was the OS not scheduling the process (a loaded machine), not
// code blocking the loop. Off otherwise.
import * as fs from "node:fs";
import { performance } from "node:perf_hooks";

export function startLagProbe(file: string | undefined): { dispose(): void } | undefined {
  if (!file) return undefined;
  const PERIOD = 10;
  let last = performance.now();
  let elu = performance.eventLoopUtilization();
  let pending = "";
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - PERIOD;
    last = now;
    const busy = performance.eventLoopUtilization(elu).active;
    elu = performance.eventLoopUtilization();
    if (late > 5) pending += `${Date.now()} ${late.toFixed(1)} ${busy.toFixed(1)}\n`;
  }, PERIOD);
  const flush = setInterval(() => {
    if (!pending) return;
    const s = pending;
    pending = "";
    fs.appendFile(file, s, () => undefined);
  }, 200);
  return {
    dispose() {
      clearInterval(timer);
      clearInterval(flush);
    },
  };
}
