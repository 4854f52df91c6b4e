// A small stand-in for the `vscode` module, enough to drive src/bus/busExplorer.ts from plain Node
// tests. Import this module FIRST: it registers itself under the name "vscode" for require().
// It records messages and opened documents, and answers dialogs from queues the test fills.
import Module from "node:module";
import { EventEmitter as NodeEmitter } from "node:events";
import { readFile, writeFile } from "node:fs/promises";

type Listener<T> = (e: T) => unknown;
class EventEmitter<T> {
  private readonly e = new NodeEmitter();
  event = (l: Listener<T>) => {
    this.e.on("x", l);
    return { dispose: () => this.e.off("x", l) };
  };
  fire(v: T): void {
    this.e.emit("x", v);
  }
  dispose(): void {
    this.e.removeAllListeners();
  }
}

const contentProviders = new Map<string, { provideTextDocumentContent(u: Uri): string }>();

class Uri {
  constructor(
    readonly fsPath: string,
    readonly scheme = "file",
  ) {}
  get path(): string {
    return this.fsPath;
  }
  static from(c: { scheme: string; path: string }): Uri {
    return new Uri(c.path, c.scheme);
  }
  static file(p: string): Uri {
    return new Uri(p);
  }
  static joinPath(u: Uri, ...parts: string[]): Uri {
    return new Uri([u.fsPath, ...parts].join("/"));
  }
  toString(): string {
    return `${this.scheme}://${this.fsPath}`;
  }
}

export interface Recorded {
  messages: Array<{ level: "info" | "warning" | "error"; text: string; items: string[] }>;
  documents: string[];
  commands: Map<string, (...args: unknown[]) => unknown>;
  context: Map<string, unknown>;
  /** Answers for the next notifications' buttons (undefined = dismissed). */
  answers: Array<string | undefined>;
  quickPicks: Array<(items: Array<{ label: string }>) => unknown>;
  inputBoxes: Array<string | undefined>;
  config: Record<string, unknown>;
  treeViews: Array<{ description?: string; message?: string }>;
  reset(): void;
}

export const recorded: Recorded = {
  messages: [],
  documents: [],
  commands: new Map(),
  context: new Map(),
  answers: [],
  quickPicks: [],
  inputBoxes: [],
  config: {},
  treeViews: [],
  reset() {
    this.messages.length = 0;
    this.documents.length = 0;
    this.answers.length = 0;
    this.quickPicks.length = 0;
    this.inputBoxes.length = 0;
  },
};

const message =
  (level: "info" | "warning" | "error") =>
  (text: string, ...rest: unknown[]): Promise<string | undefined> => {
    const items = rest.filter((x): x is string => typeof x === "string");
    recorded.messages.push({ level, text, items });
    return Promise.resolve(items.length ? recorded.answers.shift() : undefined);
  };

const fake = {
  EventEmitter,
  Uri,
  TreeItem: class {
    id?: string;
    description?: string;
    tooltip?: string;
    iconPath?: unknown;
    contextValue?: string;
    command?: unknown;
    constructor(
      readonly label: string,
      readonly collapsibleState: number,
    ) {}
  },
  TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
  ThemeIcon: class {
    constructor(
      readonly id: string,
      readonly color?: unknown,
    ) {}
  },
  ThemeColor: class {
    constructor(readonly id: string) {}
  },
  window: {
    createTreeView: () => {
      const v = { description: undefined, message: undefined, dispose() {} };
      recorded.treeViews.push(v);
      return v;
    },
    showInformationMessage: message("info"),
    showWarningMessage: message("warning"),
    showErrorMessage: message("error"),
    showQuickPick: (items: Array<{ label: string }>) => Promise.resolve(recorded.quickPicks.shift()?.(items)),
    showInputBox: (o: { validateInput?: (v: string) => string | undefined }) => {
      const v = recorded.inputBoxes.shift();
      return Promise.resolve(v !== undefined && o.validateInput?.(v) ? undefined : v);
    },
    withProgress: (_o: unknown, fn: () => Promise<unknown>) => fn(),
    showTextDocument: () => Promise.resolve(undefined),
    showOpenDialog: () => Promise.resolve(undefined),
    showSaveDialog: () => Promise.resolve(undefined),
  },
  workspace: {
    workspaceFolders: undefined,
    getConfiguration: (section: string) => ({
      get: (k: string, d: unknown) => recorded.config[`${section}.${k}`] ?? d,
    }),
    openTextDocument: (o: { content: string } | Uri) => {
      const content = o instanceof Uri ? contentProviders.get(o.scheme)?.provideTextDocumentContent(o) : o.content;
      if (content === undefined) return Promise.reject(new Error(`no content provider for ${String(o)}`));
      recorded.documents.push(content);
      return Promise.resolve({});
    },
    registerTextDocumentContentProvider: (scheme: string, p: { provideTextDocumentContent(u: Uri): string }) => {
      contentProviders.set(scheme, p);
      return { dispose: () => contentProviders.delete(scheme) };
    },
    onDidChangeConfiguration: () => ({ dispose() {} }),
    fs: {
      readFile: async (u: Uri) => new Uint8Array(await readFile(u.fsPath)),
      writeFile: (u: Uri, b: Uint8Array) => writeFile(u.fsPath, b),
    },
  },
  commands: {
    registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
      recorded.commands.set(id, fn);
      return { dispose: () => recorded.commands.delete(id) };
    },
    executeCommand: (id: string, ...args: unknown[]) => {
      if (id === "setContext") {
        recorded.context.set(args[0] as string, args[1]);
        return Promise.resolve();
      }
      const fn = recorded.commands.get(id);
      return Promise.resolve(fn ? fn(...args) : undefined);
    },
  },
};

// Make require("vscode") (left external by the bundler) return the fake.
const M = Module as unknown as { _load(request: string, ...rest: unknown[]): unknown };
const load = M._load;
M._load = function (request: string, ...rest: unknown[]) {
  if (request === "vscode") return fake;
  return load.call(this, request, ...rest);
};

export function fakeContext(): {
  subscriptions: Array<{ dispose(): unknown }>;
  globalState: { get<T>(k: string, d: T): T; update(k: string, v: unknown): Promise<void> };
} {
  const store = new Map<string, unknown>();
  return {
    subscriptions: [],
    globalState: {
      get: <T>(k: string, d: T) => (store.has(k) ? (store.get(k) as T) : d),
      update: (k, v) => {
        store.set(k, v);
        return Promise.resolve();
      },
    },
  };
}
