// Entry of dist/diffWorker.js: the helper thread `vmstate diff` and the compare view start to
// decode one file and compare half of the RAM while they do the other half (decodeInWorker.ts).
import { serveDecodeWorker } from "./decodeInWorker";

if (!serveDecodeWorker()) throw new Error("diffWorker.js is started by HelperWorker, as a worker thread");
