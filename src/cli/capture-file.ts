// The capture files named on a decode or replay command line: read them, say in one line why one
// cannot be read (exit 2), warn once for a capture cut short, and hint at the ports a --port filter missed.
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { PcapCutShort, UdpPacket } from '../pcap/pcap-reader.js';

/** How many destination ports the hint lists before "and N more". */
const PORT_HINT_MAX = 5;

/** An errno as the user reads it: "no such file", not ENOENT. */
export function fileErrorText(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT': return 'no such file';
    case 'EISDIR': return 'is a directory, not a capture file';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    default: return error.code ?? error.message;
  }
}

/** The bytes of a capture file; one that cannot be read is a UsageError "cannot read FILE: no such file". */
export function readCaptureFile(file: string): Promise<Uint8Array> {
  return readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${file}: ${fileErrorText(error)}`, { cause: error });
  });
}

/** The stderr line for a capture that ends inside a record (the records before it were read). */
export function cutShortWarning(cut: PcapCutShort): string {
  return `hoptrace: ${cut.message}\n`;
}

/**
 * Why a --port filter kept nothing: "its UDP destination ports: 34293 (151 datagrams)". Undefined
 * when the captures hold no UDP at all (then the port is not the problem).
 */
export function destinationPortsHint(packets: Iterable<Pick<UdpPacket, 'dstPort'>>, files: readonly string[]): string | undefined {
  const byPort = new Map<number, number>();
  for (const p of packets) byPort.set(p.dstPort, (byPort.get(p.dstPort) ?? 0) + 1);
  if (byPort.size === 0) return undefined;
  const ranked = [...byPort].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const shown = ranked.slice(0, PORT_HINT_MAX).map(([port, n]) => `${port} (${n} datagram${n === 1 ? '' : 's'})`);
  const more = ranked.length - shown.length;
  return `${files.length === 1 ? 'its' : 'their'} UDP destination ports: ${shown.join(', ')}${more > 0 ? `, and ${more} more port${more === 1 ? '' : 's'}` : ''}`;
}
