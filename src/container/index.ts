// src/container: recognise what carries a QEMU migration stream and present the bare stream.
export {
  openVmState,
  openAsBareStream,
  needsDecompression,
  listSnapshots,
  exportStream,
  type OpenedVmState,
  type OpenOptions,
} from "./open";
export {
  ContainerError,
  SliceSource,
  type ContainerInfo,
  type ContainerKind,
  type Compression,
  type SnapshotInfo,
  type LibvirtHeader,
} from "./types";
export { detectKind, describeUnknown } from "./detect";
export { writeEdited, writeDomainXml, writePlan, WRITABLE_COMPRESSION, type WriteMode } from "./write";
