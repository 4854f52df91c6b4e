import type { ByteSource } from "../format/types";

export class MemoryByteSource implements ByteSource {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    const s = Math.max(0, Math.min(offset, this.bytes.length));
    return this.bytes.subarray(s, Math.min(this.bytes.length, s + Math.max(0, length)));
  }
}
