// The ONLY module that imports @vscode/webview-ui-toolkit (archived upstream): the rest of the
// webview asks for components through these functions, so the toolkit can be swapped out here.
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeDivider,
  vsCodeProgressRing,
  vsCodeTextField,
} from "@vscode/webview-ui-toolkit";

provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeTextField(), vsCodeProgressRing(), vsCodeDivider());

export interface ButtonOptions {
  label?: string;
  /** Codicon name without the "codicon-" prefix. */
  icon?: string;
  title?: string;
  appearance?: "primary" | "secondary" | "icon";
  id?: string;
  onClick: (ev: MouseEvent) => void;
}

export function button(o: ButtonOptions): HTMLElement {
  const b = document.createElement("vscode-button");
  b.setAttribute("appearance", o.appearance ?? (o.label ? "secondary" : "icon"));
  if (o.id) b.id = o.id;
  if (o.title) {
    b.title = o.title;
    b.setAttribute("aria-label", o.title);
  }
  if (o.icon) {
    const i = document.createElement("span");
    i.className = `codicon codicon-${o.icon}`;
    if (o.label) i.slot = "start";
    b.append(i);
  }
  if (o.label) b.append(o.label);
  b.addEventListener("click", (ev) => o.onClick(ev as MouseEvent));
  return b;
}

export interface TextFieldOptions {
  placeholder?: string;
  id?: string;
  icon?: string;
  ariaLabel: string;
  value?: string;
  onInput?: (value: string) => void;
  onEnter?: (value: string) => void;
  onKeyDown?: (ev: KeyboardEvent) => void;
}

export type TextField = HTMLElement & { value: string };

export function textField(o: TextFieldOptions): TextField {
  const f = document.createElement("vscode-text-field") as TextField;
  if (o.id) f.id = o.id;
  if (o.placeholder) f.setAttribute("placeholder", o.placeholder);
  f.setAttribute("aria-label", o.ariaLabel);
  if (o.value) f.setAttribute("value", o.value);
  if (o.icon) {
    const i = document.createElement("span");
    i.className = `codicon codicon-${o.icon}`;
    i.slot = "start";
    f.append(i);
  }
  f.addEventListener("input", () => o.onInput?.(f.value));
  f.addEventListener("keydown", (ev) => {
    const k = ev as KeyboardEvent;
    if (k.key === "Enter") o.onEnter?.(f.value);
    o.onKeyDown?.(k);
  });
  return f;
}

export function progressRing(): HTMLElement {
  return document.createElement("vscode-progress-ring");
}

/**
 * A badge. Not the toolkit's <vscode-badge>: its template sets an inline style attribute, which
 * our Content-Security-Policy (no 'unsafe-inline') blocks. Styled from the theme in editor.css.
 */
export function badge(text: string, title?: string): HTMLElement {
  const b = document.createElement("span");
  b.className = "badge";
  b.textContent = text;
  if (title) b.title = title;
  return b;
}
