// Codicon names for node kinds and severities.
import type { NodeKind, Severity } from "../src/format/types";

const KIND_ICONS: Record<NodeKind, string> = {
  stream: "file-binary",
  header: "file-code",
  configuration: "settings-gear",
  subsection: "symbol-namespace",
  section: "symbol-class",
  footer: "fold-down",
  field: "symbol-field",
  struct: "symbol-structure",
  array: "symbol-array",
  element: "symbol-variable",
  "ram-setup": "server",
  "ram-block": "circuit-board",
  "ram-blocks": "server",
  "page-run": "layers",
  page: "file",
  "ram-marker": "bookmark",
  "dbus-data": "plug",
  helper: "package",
  padding: "whitespace",
  command: "terminal",
  packaged: "archive",
  eof: "debug-stop",
  vmdesc: "json",
  opaque: "file-binary",
  unparsed: "question",
};

export function kindIcon(k: NodeKind): string {
  return KIND_ICONS[k] ?? "circle-small";
}

export function severityIcon(s: Severity): string {
  return s === "error" ? "error" : s === "warning" ? "warning" : "info";
}
