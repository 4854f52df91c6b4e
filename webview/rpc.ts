// The webview's end of the protocol, and its persisted state (getState/setState).
import {
  MessageEndpoint,
  type HostNotifications,
  type HostRequests,
  type WebviewNotifications,
  type WebviewRequests,
} from "../src/shared/protocol";

interface VsCodeApi {
  postMessage(m: unknown): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

export const vscodeApi = acquireVsCodeApi();

export type WebviewEndpoint = MessageEndpoint<WebviewRequests, HostRequests, WebviewNotifications, HostNotifications>;

export const rpc: WebviewEndpoint = new MessageEndpoint((m) => vscodeApi.postMessage(m));
window.addEventListener("message", (e) => void rpc.receive(e.data));

/** What survives the tab being hidden (the webview is destroyed without retainContextWhenHidden). */
export interface PersistedState {
  uri?: string;
  selectedId?: string;
  expanded?: string[];
  treeScrollTop?: number;
  hexTopRow?: number;
  filter?: string;
  helperPreview?: "hex" | "text";
  problemsOpen?: boolean;
  treeWidth?: number;
  sideWidth?: number;
}

let saved: PersistedState = (vscodeApi.getState() as PersistedState | undefined) ?? {};
let timer: ReturnType<typeof setTimeout> | undefined;

export function persisted(): PersistedState {
  return saved;
}

export function persist(patch: Partial<PersistedState>): void {
  saved = { ...saved, ...patch };
  if (timer) return;
  timer = setTimeout(() => {
    timer = undefined;
    vscodeApi.setState(saved);
  }, 100);
}
