// D-Bus server addresses (dbus-specification "Server Addresses"), validated before anything connects.
// dbus-next splits addresses naively (on ";", ":", "," and "=", no %-unescaping), so we parse them
// properly here and hand it a single, rebuilt entry it can read.

export type BusAddress =
  { transport: "unix"; path: string; text: string } | { transport: "tcp"; host: string; port: number; text: string };

export class AddressError extends Error {
  override name = "AddressError";
}

function unescapeValue(raw: string, key: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === "%") {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex))
        throw new AddressError(`bad %-escape in the value of "${key}": "${raw.slice(i, i + 3)}"`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function parseEntry(entry: string): BusAddress {
  const colon = entry.indexOf(":");
  if (colon <= 0)
    throw new AddressError(
      `"${entry}" is not a D-Bus address: expected TRANSPORT:key=value,... such as unix:path=/run/vmstate/bus.sock or tcp:host=127.0.0.1,port=12345`,
    );
  const transport = entry.slice(0, colon);
  const params = new Map<string, string>();
  const rest = entry.slice(colon + 1);
  if (rest.length) {
    for (const kv of rest.split(",")) {
      const eq = kv.indexOf("=");
      if (eq <= 0) throw new AddressError(`"${kv}" in "${entry}" is not key=value`);
      const key = kv.slice(0, eq);
      if (params.has(key)) throw new AddressError(`"${key}" appears twice in "${entry}"`);
      params.set(key, unescapeValue(kv.slice(eq + 1), key));
    }
  }
  switch (transport) {
    case "unix": {
      if (params.has("abstract")) {
        throw new AddressError(
          `unix:abstract= sockets cannot be opened here: dbus-next needs its optional native module "usocket" for them, and it is not built for this Node. ` +
            `Start the bus with a filesystem socket (dbus-daemon --address=unix:path=/some/dir/bus.sock) and connect to that.`,
        );
      }
      for (const k of ["tmpdir", "dir", "runtime"]) {
        if (params.has(k))
          throw new AddressError(
            `unix:${k}= is a listen-only address; connect to the unix:path=... the bus daemon printed (dbus-daemon --print-address).`,
          );
      }
      const path = params.get("path");
      if (path === undefined) throw new AddressError(`"${entry}" has no path=; expected unix:path=/path/to/socket`);
      if (!path.length) throw new AddressError(`"${entry}" has an empty path`);
      const unknown = [...params.keys()].filter((k) => k !== "path" && k !== "guid");
      if (unknown.length) throw new AddressError(`unknown key(s) ${unknown.join(", ")} in "${entry}"`);
      if (/[,;=:]/.test(path))
        throw new AddressError(
          `the socket path "${path}" contains one of , ; = : which dbus-next cannot pass through; use a path without them`,
        );
      return { transport: "unix", path, text: entry };
    }
    case "tcp": {
      const host = params.get("host") ?? "localhost";
      const portText = params.get("port");
      if (portText === undefined) throw new AddressError(`"${entry}" has no port=; expected tcp:host=HOST,port=PORT`);
      if (!/^\d+$/.test(portText) || +portText < 1 || +portText > 65535)
        throw new AddressError(`port "${portText}" in "${entry}" is not 1..65535`);
      const family = params.get("family");
      if (family !== undefined && family !== "ipv4" && family !== "ipv6")
        throw new AddressError(`family "${family}" in "${entry}" is not ipv4 or ipv6`);
      const unknown = [...params.keys()].filter((k) => !["host", "port", "family", "bind", "guid"].includes(k));
      if (unknown.length) throw new AddressError(`unknown key(s) ${unknown.join(", ")} in "${entry}"`);
      if (!host.length || /[,;=:]/.test(host))
        throw new AddressError(
          `host "${host}" in "${entry}" cannot be passed to dbus-next; use a host name or an IPv4 address`,
        );
      return { transport: "tcp", host, port: +portText, text: entry };
    }
    case "nonce-tcp":
    case "unixexec":
    case "autolaunch":
    case "launchd":
    case "systemd":
      throw new AddressError(
        `the ${transport}: transport is not supported; use unix:path=... or tcp:host=...,port=...`,
      );
    default:
      throw new AddressError(
        `unknown transport "${transport}" in "${entry}"; use unix:path=... or tcp:host=...,port=...`,
      );
  }
}

/** Parses an address list ("a;b" means try a, then b). Throws AddressError with a message for the user. */
export function parseBusAddress(text: string): BusAddress[] {
  const trimmed = text.trim();
  if (!trimmed)
    throw new AddressError("the bus address is empty; expected unix:path=/path/to/socket or tcp:host=HOST,port=PORT");
  const entries = trimmed.split(";").filter((e) => e.length);
  if (!entries.length) throw new AddressError(`"${text}" contains no address`);
  return entries.map(parseEntry);
}

/** Returns undefined when the text is a valid address, or the reason it is not (for an input box's validateInput). */
export function validateBusAddress(text: string): string | undefined {
  try {
    parseBusAddress(text);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** The single-entry address string dbus-next can read unchanged. */
export function toDbusNextAddress(a: BusAddress): string {
  return a.transport === "unix" ? `unix:path=${a.path}` : `tcp:host=${a.host},port=${a.port}`;
}

/** Whether PIDs reported by this bus belong to this machine (so /proc/PID/cmdline is meaningful). */
export function isLocalAddress(a: BusAddress): boolean {
  return a.transport === "unix" || ["localhost", "127.0.0.1", "::1"].includes(a.host);
}
