// Builds small synthetic migration streams for edge cases real QEMU will not write on demand.
export class StreamBuilder {
  private parts: number[] = [];

  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24)
      .u8(v >>> 16)
      .u8(v >>> 8)
      .u8(v);
  }
  u64(v: number | bigint): this {
    const b = BigInt(v);
    return this.u32(Number((b >> 32n) & 0xffffffffn)).u32(Number(b & 0xffffffffn));
  }
  bytes(b: Uint8Array | number[] | string): this {
    const arr = typeof b === "string" ? new TextEncoder().encode(b) : b;
    for (const x of arr) this.parts.push(x);
    return this;
  }
  counted(s: string | Uint8Array): this {
    const b = typeof s === "string" ? new TextEncoder().encode(s) : s;
    return this.u8(b.length).bytes(b);
  }
  header(): this {
    return this.u32(0x5145564d).u32(3);
  }
  configuration(machine = "pc-q35-7.2"): this {
    return this.u8(0x07).u32(machine.length).bytes(machine);
  }
  fullHeader(id: number, name: string, instance = 0, version = 1): this {
    return this.u8(0x04).u32(id).counted(name).u32(instance).u32(version);
  }
  startHeader(id: number, name: string, instance = 0, version = 4): this {
    return this.u8(0x01).u32(id).counted(name).u32(instance).u32(version);
  }
  footer(id: number): this {
    return this.u8(0x7e).u32(id);
  }
  eof(): this {
    return this.u8(0x00);
  }
  vmdesc(desc: unknown): this {
    const json = new TextEncoder().encode(typeof desc === "string" ? desc : JSON.stringify(desc));
    return this.u8(0x06).u32(json.length).bytes(json);
  }
  get length(): number {
    return this.parts.length;
  }
  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** dbus-vmstate buffer: count, entries, then `padTo` bytes of zero padding in total. */
/** One device of a vmdesc's "devices" list (the vmsd named as the device unless told). */
export function vmdescDevice(
  name: string,
  fields: unknown[],
  opts: { instance?: number; version?: number; vmsd?: string } = {},
): Record<string, unknown> {
  return { name, instance_id: opts.instance ?? 0, vmsd_name: opts.vmsd ?? name, version: opts.version ?? 1, fields };
}

export function dbusData(
  entries: { id: string | Uint8Array; blob: Uint8Array }[],
  opts: { count?: number; padTo?: number } = {},
): Uint8Array {
  const b = new StreamBuilder().u32(opts.count ?? entries.length);
  for (const e of entries) {
    const id = typeof e.id === "string" ? new TextEncoder().encode(e.id) : e.id;
    b.u32(id.length).bytes(id).u32(e.blob.length).bytes(e.blob);
  }
  const used = b.build();
  const out = new Uint8Array(Math.max(opts.padTo ?? used.length, used.length));
  out.set(used);
  return out;
}

/** A complete stream with one dbus-vmstate section and its vmdesc. */
export function dbusStream(data: Uint8Array, opts: { footers?: boolean; vmdesc?: boolean } = {}): Uint8Array {
  const footers = opts.footers ?? true;
  const b = new StreamBuilder()
    .header()
    .configuration()
    .fullHeader(1, "dbus-vmstate/dbus-vmstate", 0, 0)
    .u32(data.length)
    .bytes(data);
  if (footers) b.footer(1);
  b.eof();
  if (opts.vmdesc ?? true) {
    b.vmdesc({
      page_size: 4096,
      devices: [
        {
          name: "dbus-vmstate/dbus-vmstate",
          instance_id: 0,
          vmsd_name: "dbus-vmstate",
          version: 0,
          fields: [
            { name: "data_size", type: "uint32", size: 4 },
            { name: "data", type: "buffer", size: data.length },
          ],
        },
      ],
    });
  }
  return b.build();
}
