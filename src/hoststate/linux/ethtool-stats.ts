// `ethtool -S DEV` (ethtool/ethtool.c do_gnicstats): `NIC statistics:` then `     name: value`
// lines. For a veth, `peer_ifindex` is the other end's ifindex (in its own namespace): what ties
// a qvb to its qvo, or a tap to the VM's eth0, when `ip link` shows only `@ifN`.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, textLines } from './parse-util.js';

export interface EthtoolStats {
  /** Counters by name, in the order printed. */
  stats: Record<string, bigint>;
  /** veth: the peer's ifindex; null for other drivers. */
  peerIfindex: number | null;
}

const STAT = /^\s+([^:]+):\s*(\d+)\s*$/;

export function parseEthtoolStats(text: string, source: string): Parsed<EthtoolStats> {
  const issues: ParseIssue[] = [];
  const stats: Record<string, bigint> = {};
  let header = false;
  textLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    if (/^(NIC|PHY) statistics:\s*$/.test(raw)) {
      header = true;
      return;
    }
    const m = STAT.exec(raw);
    if (m === null || !header) {
      issues.push(issue(source, i + 1, header ? 'not a `name: value` line' : 'statistics before the `NIC statistics:` header', raw));
      return;
    }
    stats[(m[1] ?? '').trim()] = BigInt(m[2] ?? '0');
  });
  const peer = stats['peer_ifindex'];
  return { value: { stats, peerIfindex: peer === undefined ? null : Number(peer) }, issues };
}
