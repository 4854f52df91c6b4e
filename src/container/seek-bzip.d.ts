// seek-bzip ships no types; decompress.ts describes the part it uses (SeekBzip).
declare module "seek-bzip" {
  const Bunzip: unknown;
  export default Bunzip;
}
