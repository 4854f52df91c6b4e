// The `vmstate` command line: the same decoder and model as the extension, for scripts and CI.
import { runCli } from "./commands";

// `vmstate dump FILE | head`: the reader went away; stop quietly, as cat does (SIGPIPE's status)
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(141);
    throw e;
  });
}

/**
 * Exits once everything written has left (stdout and stderr are asynchronous pipes on some
 * systems). Left to end on its own, Node first runs V8's pending housekeeping (a scavenge and a
 * mark-compact of the decoded tree): ~15 ms of `vmstate inspect`'s ~0.28 s on an 810 MB stream,
 * for memory the process is about to give back anyway.
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  // a write that failed (the reader of a pipe went away) is the error handler's to end: 141 for
  // EPIPE; without an exit here the process still ends by itself, with exitCode
  let failed = false;
  const flushed = (e?: Error | null) => {
    if (e) failed = true;
    if (--pending === 0 && !failed) process.exit(code);
  };
  process.stdout.write("", flushed);
  process.stderr.write("", flushed);
}

runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}).then(exitWhenFlushed, (e: unknown) => {
  process.stderr.write(`vmstate: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  exitWhenFlushed(3);
});
