// A WalkWorld held in memory: hosts with their bridges and underlay addresses. The topology model
// builds its own WalkWorld; this one serves tests, the CLI and single-host traces.
import type { WalkBridge, WalkWorld } from './bridge-index.js';

export interface WorldHost {
  name: string;
  /** Underlay addresses (tunnel local_ip / remote_ip) this host owns. */
  addresses: readonly string[];
  bridges: readonly WalkBridge[];
}

export function buildWalkWorld(hosts: readonly WorldHost[]): WalkWorld {
  const byName = new Map<string, WorldHost>();
  const bridges = new Map<string, Map<string, WalkBridge>>();
  const owners = new Map<string, string>();
  for (const host of hosts) {
    byName.set(host.name, host);
    bridges.set(host.name, new Map(host.bridges.map((b) => [b.name, b])));
    for (const address of host.addresses) owners.set(address, host.name);
  }
  return {
    bridge: (host, name) => bridges.get(host)?.get(name),
    bridges: (host) => byName.get(host)?.bridges ?? [],
    hostOwningIp: (ip) => owners.get(ip),
  };
}
