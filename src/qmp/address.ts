// QMP socket addresses as users type them: a unix socket path ("/run/qemu/vm.qmp",
// "unix:/run/qemu/vm.qmp", "unix:path=/...") or tcp ("tcp:127.0.0.1:4444", "localhost:4444",
// "[::1]:4444"). The forms match QEMU's own -qmp syntax (unix:PATH, tcp:HOST:PORT).
export type QmpAddress = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

export class QmpAddressError extends Error {}

export function parseQmpAddress(text: string): QmpAddress {
  const s = text.trim();
  if (!s) throw new QmpAddressError("empty QMP address");
  if (s.startsWith("unix:")) {
    // QEMU's "unix:PATH[,server=on,...]" and D-Bus style "unix:path=PATH"
    let p = s.slice(5);
    if (p.startsWith("path=")) p = p.slice(5);
    p = p.split(",")[0]!;
    if (!p) throw new QmpAddressError(`"${text}": no socket path after unix:`);
    return { kind: "unix", path: p };
  }
  let rest = s;
  if (s.startsWith("tcp:")) rest = s.slice(4).split(",")[0]!;
  else if (s.includes("/") || !s.includes(":")) return { kind: "unix", path: s };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(rest);
  if (!m) throw new QmpAddressError(`"${text}" is neither a socket path nor tcp:HOST:PORT`);
  const port = Number(m[3]);
  if (!(port > 0 && port < 65536)) throw new QmpAddressError(`"${text}": port ${m[3]} is out of range`);
  return { kind: "tcp", host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

export function formatQmpAddress(a: QmpAddress): string {
  return a.kind === "unix" ? `unix:${a.path}` : `tcp:${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
