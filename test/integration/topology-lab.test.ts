// Host topology on the real Neutron lab: the agent (live commands, JSON forms) and an import of a
// sosreport-layout tree of the same hosts (text forms, sos file names) give the same topology and
// the same stored rows; the healthy lab has no error findings; a broken lab is found; the DOT
// drawing renders with Graphviz.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RawSnapshot } from '../../src/hoststate/snapshot.js';
import { importSnapshots } from '../../src/snapshot/import.js';
import { ChdbStore } from '../../src/store/chdb-store.js';
import { buildTopologies } from '../../src/topology/build.js';
import { checkTopology } from '../../src/topology/checks.js';
import { topologyToDot } from '../../src/topology/dot.js';
import type { HostTopology } from '../../src/topology/model.js';
import { storeSnapshot } from '../../src/topology/store.js';
import { breakLab, repairLab } from '../lab/break.js';
import { createNeutronLab, type HostLabel, type NeutronLab } from '../lab/neutron-lab.js';
import { agentSnapshot, sosSource, sosTree } from '../lab/sos-tree.js';
import { findCommand, probeOvsLab } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const unavailable = await probeOvsLab();
const HOSTS: HostLabel[] = ['compute1', 'network1'];

/** What does not describe the wiring: times, counters, where each line came from. */
function wiring(t: HostTopology): unknown {
  return {
    host: t.host,
    bridges: t.bridges,
    ports: t.ports,
    flows: t.flows.map((f) => ({
      bridge: f.bridge,
      flows: f.flows.map((x) => `table=${x.table} priority=${x.priority} cookie=${x.cookie} ${x.matchText} actions=${x.actionsText}`).sort(),
    })),
    devices: t.devices.map((d) => ({ ...d, rxPackets: null, txPackets: null, rxDropped: null, txDropped: null })),
    namespaces: t.namespaces,
    routes: t.routes,
    linuxBridges: t.linuxBridges,
    iptables: t.iptables.map((r) => ({ ...r, packets: 0, bytes: 0 })),
    chains: t.chains.map((c) => ({ ...c, packets: 0, bytes: 0 })),
    edges: t.edges,
    vlanMap: t.vlanMap,
  };
}

describe('topology on the Neutron lab', () => {
  let lab: NeutronLab | undefined;
  let work = '';
  const get = (): NeutronLab => {
    if (lab === undefined) throw new Error('no lab');
    return lab;
  };

  const agentSnapshots = (): Promise<RawSnapshot[]> => Promise.all(HOSTS.map((label) => agentSnapshot(get(), label)));

  async function sosSnapshots(tag: string): Promise<RawSnapshot[]> {
    const l = get();
    const dirs: string[] = [];
    for (const label of HOSTS) {
      const dir = join(work, `${tag}-sosreport-${label}`);
      await sosTree(sosSource(l, label), dir);
      dirs.push(dir);
    }
    const result = await importSnapshots(dirs);
    expect(result.problems).toEqual([]);
    return result.snapshots;
  }

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    work = mkdtempSync(join(tmpdir(), 'hoptrace-topology-'));
    lab = await createNeutronLab({ computeHosts: 1 });
  });
  afterAll(async () => {
    await lab?.teardown();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('agent and sosreport import give the same topology and the same stored rows', async () => {
    const l = get();
    const [agent, sos] = await Promise.all([agentSnapshots(), sosSnapshots('healthy')]);
    const a = buildTopologies(agent).topologies;
    const s = buildTopologies(sos).topologies.sort((x, y) => HOSTS.indexOf(x.host as HostLabel) - HOSTS.indexOf(y.host as HostLabel));
    expect(a.map((t) => t.host)).toEqual(HOSTS);
    expect(s.map((t) => t.host)).toEqual(HOSTS);
    for (const t of [...a, ...s]) expect(t.issues).toEqual([]);
    expect(s.map(wiring)).toEqual(a.map(wiring));

    // the model says what the lab built
    const compute = a[0] as HostTopology;
    const vm1 = l.instance('vm1');
    const qvo = compute.ports.find((p) => p.name === vm1.devices.qvo);
    expect(qvo).toMatchObject({ bridge: 'br-int', tag: vm1.localVlan, neutronPortId: vm1.portId, attachedMac: vm1.mac, ofport: vm1.ofport });
    expect(compute.linuxBridges.find((b) => b.name === vm1.devices.qbr)?.members).toEqual([vm1.devices.qvb, vm1.devices.tap].sort());
    expect(compute.edges).toContainEqual({ kind: 'veth', a: expect.anything(), b: expect.anything(), detail: null });
    const veths = compute.edges.filter((e) => e.kind === 'veth').map((e) => [e.a.device, e.b.device].sort().join('='));
    expect(veths).toContain([vm1.devices.qvb, vm1.devices.qvo].sort().join('='));
    const tunnel = compute.edges.find((e) => e.kind === 'tunnel');
    expect(tunnel?.b.host).toBe('network1');
    expect(compute.vlanMap.filter((m) => m.source === 'flow').map((m) => [m.localVlan, m.segmentationId])).toContainEqual([vm1.localVlan, l.network.segmentationId]);
    for (const h of HOSTS) expect(a.find((t) => t.host === h)?.bridges.map((b) => b.datapathId).sort()).toEqual(Object.values(l.host(h).datapathIds).sort());
    const network = a[1] as HostTopology;
    expect(network.namespaces).toEqual([l.dhcp.namespace, l.router.namespace].sort());
    expect(network.routes.some((r) => r.namespace === l.router.namespace && r.dst === 'default')).toBe(true);

    // the same rows in the store, whichever way the snapshots came
    // the same rows in the store, whichever way the snapshots came (one chDB engine per process:
    // one database after the other)
    const tables = ['topo_bridges', 'topo_ports', 'topo_devices', 'topo_routes', 'topo_flows', 'topo_iptables', 'topo_edges', 'topo_vlan_map', 'topo_findings'];
    const volatile = new Set(['taken_at', 'snapshot_id', 'n_packets', 'n_bytes', 'duration_s', 'packets', 'bytes', 'rx_packets', 'tx_packets', 'rx_dropped', 'tx_dropped']);
    const dumps: Record<string, string[]>[] = [];
    for (const [database, raws] of [['agent', agent], ['sos', sos]] as const) {
      const store = await ChdbStore.open({ path: join(work, 'store'), database });
      try {
        await store.migrate();
        const built = buildTopologies(raws).topologies;
        const findings = checkTopology(built);
        for (const [j, raw] of raws.entries()) await storeSnapshot(store, raw, built[j] as HostTopology, findings);
        const dump: Record<string, string[]> = {};
        for (const table of tables) {
          const rows = await store.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
          dump[table] = rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !volatile.has(k))))).sort();
        }
        dumps.push(dump);
        const snapshots = await store.query<{ host: string }>('SELECT host FROM host_snapshots ORDER BY host');
        expect(snapshots.map((r) => r.host)).toEqual(HOSTS.slice().sort());
      } finally {
        await store.close();
      }
    }
    for (const table of tables) {
      if (table !== 'topo_findings') expect(dumps[0]?.[table]?.length, table).toBeGreaterThan(0);
      expect(dumps[1]?.[table], table).toEqual(dumps[0]?.[table]);
    }
  });

  it('finds nothing wrong in the healthy lab, and draws it', async () => {
    const topologies = buildTopologies(await agentSnapshots()).topologies;
    const findings = checkTopology(topologies);
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
    const dot = topologyToDot(topologies, { findings, hideLoose: true });
    expect(dot).toContain('cluster_h0');
    expect(dot).toContain(get().instance('vm1').devices.qvo);
    if (findCommand('dot') !== undefined) {
      const svg = execFileSync('dot', ['-Tsvg'], { input: dot }).toString();
      expect(svg).toContain('<svg');
      expect(svg).toContain(get().instance('vm1').devices.qbr.replaceAll('-', '&#45;')); // Graphviz escapes '-'
    }
  });

  it('finds the untagged qvo and the tunnel to nowhere', async () => {
    const l = get();
    const vm1 = l.instance('vm1');
    await breakLab(l, 'qvo-untagged');
    await breakLab(l, 'gre-remote-ip-wrong');
    try {
      const topologies = buildTopologies(await sosSnapshots('broken')).topologies;
      const findings = checkTopology(topologies).filter((f) => f.severity === 'error');
      expect(findings.map((f) => [f.host, f.check, f.device])).toEqual(
        expect.arrayContaining([
          ['compute1', 'port-untagged', vm1.devices.qvo],
          ['compute1', 'tunnel-remote-unknown', l.host('compute1').tunnels[0]?.port],
        ]),
      );
      expect(findings.find((f) => f.check === 'tunnel-remote-unknown')?.evidence).toContain('192.0.2.99');
    } finally {
      await repairLab(l, 'gre-remote-ip-wrong');
      await repairLab(l, 'qvo-untagged');
    }
  });

  it('finds a local VLAN without its br-tun mapping', async () => {
    const l = get();
    await breakLab(l, 'vlan-to-tun-removed');
    try {
      const topologies = buildTopologies(await agentSnapshots()).topologies;
      const findings = checkTopology(topologies).filter((f) => f.check === 'vlan-without-tunnel-mapping');
      expect(findings.map((f) => f.host)).toContain('compute1');
    } finally {
      await repairLab(l, 'vlan-to-tun-removed');
    }
  });

  it('the store answers "what changed between T1 and T2" (dashboards/queries)', async () => {
    const l = get();
    const vm1 = l.instance('vm1');
    const before = await agentSnapshots();
    await breakLab(l, 'qvo-untagged');
    await breakLab(l, 'vlan-to-tun-removed');
    let after: RawSnapshot[];
    try {
      after = await agentSnapshots();
    } finally {
      await repairLab(l, 'vlan-to-tun-removed');
      await repairLab(l, 'qvo-untagged');
    }
    const sql = (name: string): string => readFileSync(join(import.meta.dirname, '../../dashboards/queries', name), 'utf8');
    const store = await ChdbStore.open({ path: join(work, 'store'), database: 'changes' });
    try {
      await store.migrate();
      for (const raws of [before, after]) {
        const built = buildTopologies(raws).topologies;
        for (const [i, raw] of raws.entries()) await storeSnapshot(store, raw, built[i] as HostTopology, checkTopology(built));
      }
      const t1 = before[0]?.takenAt as string;
      const t2 = after[0]?.takenAt as string;
      const ports = await store.query<{ bridge: string; port: string; change: string; what: string }>(sql('port-changes.sql'), { host: 'compute1', t1, t2 });
      expect(ports).toEqual([{ bridge: 'br-int', port: vm1.devices.qvo, change: 'changed', what: `tag ${vm1.localVlan} -> []` }]);
      const flows = await store.query<{ bridge: string; flow_table: number; change: string; match: string }>(sql('flow-changes.sql'), { host: 'compute1', t1, t2 });
      const removed = flows.filter((f) => f.change === 'removed');
      expect(removed.map((f) => f.bridge)).toContain('br-tun');
      expect(removed.some((f) => f.match.includes(`dl_vlan=${vm1.localVlan}`))).toBe(true);
      const at = await store.query<{ host: string; port: string; tag: number | null }>(sql('topology-at.sql'), { at: t1 });
      expect(at.find((r) => r.port === vm1.devices.qvo)).toMatchObject({ host: 'compute1', tag: vm1.localVlan });
      const vlans = await store.query<{ host: string; direction: string }>(sql('vlan-map.sql'), { host: 'compute1' });
      expect(vlans.some((v) => v.direction === 'to-tunnel')).toBe(true);
    } finally {
      await store.close();
    }
  });
});
