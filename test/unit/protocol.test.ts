// MessageEndpoint (src/shared/protocol.ts), the request/reply channel of the editor, the compare
// view and the decoding worker: two real endpoints wired to each other, no webview needed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageEndpoint, type WireMessage } from "../../src/shared/protocol";

interface AReq {
  add: { params: { a: number; b: number }; result: number };
  boom: { params: { how: "sync" | "async" | "string" }; result: number };
  slow: { params: { id: number }; result: number };
}
interface BReq {
  missing: { params: object; result: number };
}
type Ep<In, Out> = MessageEndpoint<In, Out, { ping: { n: number } }, { ping: { n: number } }>;

/** Two endpoints; `wire` records every message, delivery is asynchronous (as postMessage is). */
function pair() {
  const wire: WireMessage[] = [];
  const deliver = (to: () => { receive(m: unknown): Promise<void> }) => (m: WireMessage) => {
    wire.push(m);
    queueMicrotask(() => void to().receive(structuredClone(m)));
  };
  const a: Ep<AReq, BReq> = new MessageEndpoint(deliver(() => b));
  const b: Ep<BReq, AReq> = new MessageEndpoint(deliver(() => a));
  return { a, b, wire };
}

test("MessageEndpoint: a request gets its handler's result", async () => {
  const { a, b, wire } = pair();
  a.handle("add", ({ a: x, b: y }) => x + y);
  assert.equal(await b.request("add", { a: 2, b: 40 }), 42);
  assert.deepEqual(
    wire.map((m) => m.kind),
    ["request", "reply"],
  );
  assert.equal((wire[1] as { ok: boolean }).ok, true);
});

test("MessageEndpoint: a throwing handler replies ok:false with its message, and the caller's promise rejects", async () => {
  const { a, b, wire } = pair();
  a.handle("boom", ({ how }) => {
    if (how === "sync") throw new Error("sync failure");
    if (how === "string") throw "not an Error";
    return Promise.reject(new Error("async failure"));
  });
  await assert.rejects(b.request("boom", { how: "sync" }), /^Error: sync failure$/);
  await assert.rejects(b.request("boom", { how: "async" }), /^Error: async failure$/);
  await assert.rejects(b.request("boom", { how: "string" }), /^Error: not an Error$/);
  const replies = wire.filter((m) => m.kind === "reply");
  assert.deepEqual(
    replies.map((m) => ({ ok: (m as { ok: boolean }).ok, error: (m as { error?: string }).error })),
    [
      { ok: false, error: "sync failure" },
      { ok: false, error: "async failure" },
      { ok: false, error: "not an Error" },
    ],
  );
  // the endpoint still serves after a failure
  a.handle("add", ({ a: x, b: y }) => x + y);
  assert.equal(await b.request("add", { a: 1, b: 1 }), 2);
});

test("MessageEndpoint: a method without a handler replies ok:false", async () => {
  const { b } = pair(); // its other end has no handlers
  await assert.rejects(b.request("add", { a: 1, b: 2 }), /no handler for add/);
});

test("MessageEndpoint: replies find their request by seq, in any order", async () => {
  const { a, b } = pair();
  const release = new Map<number, () => void>();
  a.handle("slow", ({ id }) => new Promise<number>((res) => release.set(id, () => res(id * 10))));
  const p1 = b.request("slow", { id: 1 });
  const p2 = b.request("slow", { id: 2 });
  const p3 = b.request("slow", { id: 3 });
  while (release.size < 3) await new Promise((r) => setImmediate(r));
  release.get(3)!();
  release.get(1)!();
  release.get(2)!();
  assert.deepEqual(await Promise.all([p1, p2, p3]), [10, 20, 30]);
});

test("MessageEndpoint: notifications reach their handler; stray and foreign messages are ignored", async () => {
  const { a, b } = pair();
  const got: number[] = [];
  a.onNotify("ping", ({ n }) => got.push(n));
  b.notify("ping", { n: 7 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, [7]);
  // not wire messages, a reply nobody waits for, a notification without a handler: no effect, no throw
  for (const m of [
    null,
    42,
    "x",
    {},
    { kind: "reply" },
    { kind: "reply", seq: 999, ok: true, result: 1 },
    { kind: "notify", method: "other", params: {} },
  ]) {
    await a.receive(m);
  }
  assert.deepEqual(got, [7]);
});

test("MessageEndpoint: dispose rejects what is still waiting", async () => {
  const posted: WireMessage[] = [];
  const lonely: Ep<AReq, BReq> = new MessageEndpoint((m) => void posted.push(m));
  const p = lonely.request("missing", {});
  assert.equal(posted.length, 1);
  lonely.dispose();
  await assert.rejects(p, /channel closed/);
});
