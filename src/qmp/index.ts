// QMP: talk to a running QEMU (info, capture its VM state into a file, load a file into a QEMU
// waiting with -incoming defer). Plain Node, no vscode: used by the CLI and the QEMU view.
export * from "./address";
export * from "./client";
export * from "./vm";
export * from "./capture";
export * from "./load";
