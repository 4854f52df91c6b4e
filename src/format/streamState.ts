// What one decode of a whole stream knows as it goes: shared by the modules that make up the
// decoder (decode.ts drives them):
//   header.ts    file header, CONFIGURATION record, locating the vmdesc before the records
//   records.ts   the record loop (SECTION_START/FULL/PART/END, EOF, footers, COMMAND dispatch)
//   resync.ts    the heuristics that find a record boundary when nothing describes one
//   commands.ts  QEMU_VM_COMMAND records (PACKAGED recurses into the record loop)
//   trailer.ts   the vmdesc record after EOF and any bytes after it
import { DecodeContext } from "./context";
import type { RamState } from "./ram";
import type { ByteSource, CommandInfo, DeviceDesc, Handler, HelperInfo, SectionInfo, VmDesc } from "./types";
import type { VmdescLocation } from "./vmdesc";

/** A section opened by SECTION_START and not yet closed by SECTION_END, by section id. */
export interface OpenSection {
  name: string;
  instanceId: number;
  versionId: number;
  handler: Handler;
}

export class StreamState {
  readonly ctx: DecodeContext;
  readonly sections: SectionInfo[] = [];
  readonly helpers: HelperInfo[] = [];
  /** Every COMMAND record, outer and inside PACKAGED, in stream order. */
  readonly commands: CommandInfo[] = [];
  /** How many PACKAGED streams enclose the record being decoded. */
  packagedDepth = 0;
  sawPackaged = false;
  readonly open = new Map<number, OpenSection>();
  readonly ram: RamState = {
    pageSize: 4096,
    ignoreShared: false,
    mappedRam: false,
    postcopyAdvised: false,
    blocks: [],
  };
  vmdesc?: VmDesc;
  vmdescText?: string;
  vmdescLoc?: VmdescLocation;
  machineType?: string;
  capabilities: string[] = [];
  /** Sections whose end only a heuristic could find. */
  heuristicSections = 0;
  /** A footer scan failed once: later opaque sections use the heuristic (keeps scanning linear). */
  footerScanFailed = false;
  /** undefined until the first section tells us whether footers are sent. */
  footers?: boolean;
  /** Offsets of each vmdesc device already matched, by "name\0instance". */
  readonly deviceCursor = new Map<string, number>();
  readonly devicesByKey = new Map<string, DeviceDesc[]>();
  /** Where device data ends: the EOF before the vmdesc when we know it. */
  dataEnd: number;

  constructor(readonly src: ByteSource) {
    this.ctx = new DecodeContext(src);
    this.dataEnd = src.size;
  }
}
