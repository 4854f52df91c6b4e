// What the extension-host suites share: the extension's id, a sleep, sha256, and waitFor.
import * as crypto from "node:crypto";

export const EXT_ID = "qemu-vmstate.qemu-vmstate";
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

/**
 * Polls `fn` until it gives a value (anything but undefined, null or false) and returns it. A throw
 * counts as "not yet"; the last one is quoted when `timeoutMs` runs out.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 30000,
  pollMs = 100,
): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(pollMs);
  }
}
