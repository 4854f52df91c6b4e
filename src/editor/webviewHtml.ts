// The webview's HTML shell: a strict Content-Security-Policy with a per-load nonce; everything
// else is built by dist/webview.js.
import * as vscode from "vscode";

export function nonce(): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < 32; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

/** `opts.script`: the bundle to load (default the stream editor's webview.js); `opts.loading`: the text shown until it runs. */
export function webviewHtml(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  title: string,
  opts: { script?: string; loading?: string } = {},
): string {
  const n = nonce();
  const asset = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
  const esc = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  // The toolkit's FAST elements use constructable stylesheets (not restricted by style-src); its one
  // probe <style> element takes the nonce from <meta property="csp-nonce">.
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource} 'nonce-${n}'`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource} data:`,
    `script-src 'nonce-${n}'`,
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta property="csp-nonce" content="${n}">
<link rel="stylesheet" href="${asset("dist", "codicons", "codicon.css")}" id="vscode-codicon-stylesheet">
<link rel="stylesheet" href="${asset("media", "editor.css")}">${opts.script === "compare.js" ? `\n<link rel="stylesheet" href="${asset("media", "compare.css")}">` : ""}
<title>${esc(title)}</title>
</head>
<body>
<div id="app" data-title="${esc(title)}">
  <div class="loading" id="loading" role="status"><span class="spinner" aria-hidden="true"></span><span>${esc(opts.loading ?? `Indexing ${title}…`)}</span></div>
</div>
<script nonce="${n}" src="${asset("dist", opts.script ?? "webview.js")}"></script>
</body>
</html>`;
}
