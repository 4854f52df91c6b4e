// One error type for everything the bus explorer can report; `kind` is what UIs branch on.

export type BusErrorKind =
  | "address" // the address text is not one we can open
  | "connect" // refused, no such socket, handshake failed, no answer
  | "closed" // the connection went away (or was never open)
  | "timeout" // no reply within the time limit
  | "vanished" // the helper left the bus before or during the call
  | "dbus" // the peer answered with a D-Bus error
  | "wrong-type" // the reply had an unexpected signature
  | "usage"; // a bad argument from our caller (unknown helper, not a unique name)

export class BusError extends Error {
  override name = "BusError";
  constructor(
    readonly kind: BusErrorKind,
    message: string,
    /** The D-Bus error name, when the peer or the bus daemon answered with one. */
    readonly dbusName?: string,
  ) {
    super(message);
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
