// Plain-text renderings of helpers and check reports, shared by the CLI and the VS Code report.
import type { CheckReport, BusHelper } from "./client";
import { RULE_TITLES } from "./rules";
import { escapeControls } from "../format/escape";

export function helperLabel(h: BusHelper): string {
  return h.id !== null ? h.id : "(no Id)";
}

// Helper Ids and /proc cmdlines come from other processes: every line is printed with its control
// characters escaped (a newline in an Id must not forge a report line, ESC must not reach the terminal).

export function formatHelperList(helpers: BusHelper[], hint: string): string {
  if (!helpers.length) return `no helpers\n${hint}\n`;
  const lines: string[] = [];
  for (const h of helpers) {
    lines.push(
      `${h.uniqueName}  ${h.primary ? "primary" : `queued #${h.position}`}  id=${h.id !== null ? JSON.stringify(h.id) : `(none: ${h.idError ?? "missing"})`}  pid=${h.pid ?? "?"}` +
        (h.cmdline ? `  ${h.cmdline}` : ""),
    );
  }
  return lines.map(escapeControls).join("\n") + "\n";
}

export function formatCheckReport(r: CheckReport): string {
  const lines: string[] = [
    `Helpers on ${r.address}: ${r.helpers.length}, ${r.ok ? "all rules pass" : "some rules FAIL"}`,
  ];
  if (r.hint) lines.push(r.hint);
  for (const hc of r.helpers) {
    const h = hc.helper;
    lines.push("");
    lines.push(
      `${hc.ok ? "PASS" : "FAIL"} ${helperLabel(h)} (${h.uniqueName}, ${h.primary ? "primary" : "queued"}, pid ${h.pid ?? "?"})`,
    );
    for (const rule of hc.rules) {
      const mark = rule.ok ? "ok  " : rule.skipped ? "--  " : "FAIL";
      lines.push(`  ${mark} ${RULE_TITLES[rule.rule].padEnd(24)} ${rule.message}`);
    }
  }
  return lines.map(escapeControls).join("\n") + "\n";
}
