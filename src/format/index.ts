export * from "./types";
export { decodeStream } from "./decode";
export { DecodeError } from "./errors";
export { expandMappedRun, expandPageRun, readPageRun, visitMappedBitmap, type PageRecord } from "./ram";
export { encodeStream, type Chunk } from "./encode";
import { expandMappedRun, expandPageRun } from "./ram";
import type { ByteSource, VNode } from "./types";

/** Children of a node with `lazy` set (RAM page runs), read from the source on demand. */
export function expandNode(src: ByteSource, node: VNode, pageSize = 4096): VNode[] {
  if (node.lazy === "pages") return expandPageRun(src, node, pageSize);
  if (node.lazy === "mapped-pages") return expandMappedRun(src, node, pageSize);
  return node.children ?? [];
}

/** The deepest node whose span contains `offset` (binary search at each level). */
export function leafAt(root: VNode, offset: number): VNode | undefined {
  if (offset < root.span.start || offset >= root.span.end) return undefined;
  let n = root;
  for (;;) {
    const kids = n.children;
    if (!kids || kids.length === 0) return n;
    let lo = 0;
    let hi = kids.length - 1;
    let found: VNode | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const k = kids[mid]!;
      if (offset < k.span.start) hi = mid - 1;
      else if (offset >= k.span.end) lo = mid + 1;
      else {
        found = k;
        break;
      }
    }
    if (!found) return n;
    n = found;
  }
}
