// Faults an operator meets in ML2/OVS clouds, made on purpose in a lab, each undone by repairLab.
// Every scenario names the host it changes and the traffic it breaks, so a test can check the
// break really breaks that traffic (and hoptrace can be asked where the frame dies).
import type { OvsHost } from '../support/ovs-lab.js';
import { run } from '../support/netns.js';
import { learnedUcastMatch, lvToTunFlow, lvToTunMatch, tunToLvFlow, tunToLvMatch, tunToLvTable } from './neutron-config.js';
import { findHost, findInstance, spawnDnsmasq, stopDnsmasq, type HostLabel, type NeutronLabLayout } from './neutron-lab.js';

export const BREAK_SCENARIOS = [
  'tun-to-vlan-removed',
  'vlan-to-tun-removed',
  'sg-drop',
  'qvo-untagged',
  'dnsmasq-stopped',
  'gre-remote-ip-wrong',
  'underlay-loss',
] as const;

export type BreakScenario = (typeof BREAK_SCENARIOS)[number];

export function isBreakScenario(value: string): value is BreakScenario {
  return (BREAK_SCENARIOS as readonly string[]).includes(value);
}

/** What breakLab needs: the layout and the OVS tools of each host (a NeutronLab, or one attached from the CLI state). */
export interface LabAccess extends NeutronLabLayout {
  ovs(label: HostLabel): OvsHost;
}

export interface BreakOptions {
  /** The instance whose traffic breaks (default vm1). */
  instance?: string;
}

export interface BreakInfo {
  scenario: BreakScenario;
  /** The host whose configuration changed. */
  host: HostLabel;
  /** What was changed, in operator words. */
  change: string;
  /** The instance whose traffic breaks, and what breaks: a ping to `target`, or its DHCP exchange. */
  instance: string;
  breaks: { kind: 'ping'; target: string } | { kind: 'dhcp' };
}

/** Applies a scenario; returns what changed and what traffic should now fail. */
export async function breakLab(lab: LabAccess, scenario: BreakScenario, options: BreakOptions = {}): Promise<BreakInfo> {
  const info = describeBreak(lab, scenario, options);
  const instance = findInstance(lab, info.instance);
  const compute = lab.ovs(instance.host);
  const network = lab.ovs('network1');
  switch (scenario) {
    case 'tun-to-vlan-removed':
      await network.ofctl(['--strict', 'del-flows', 'br-tun', tunToLvMatch(lab.network.segmentationId, lab.network.networkType)]);
      await network.appctl(['revalidator/wait']);
      break;
    case 'vlan-to-tun-removed':
      await compute.ofctl(['--strict', 'del-flows', 'br-tun', lvToTunMatch(instance.localVlan)]);
      await compute.ofctl(['del-flows', 'br-tun', learnedUcastMatch(instance.localVlan)]);
      await compute.appctl(['revalidator/wait']);
      break;
    case 'sg-drop':
      await run(compute.netns, ['iptables', '-I', instance.chains.ingress, '1', ...SG_DROP_RULE]);
      break;
    case 'qvo-untagged':
      await compute.vsctl(['clear', 'Port', instance.devices.qvo, 'tag']);
      await compute.appctl(['revalidator/wait']);
      break;
    case 'dnsmasq-stopped':
      await stopDnsmasq(lab);
      break;
    case 'gre-remote-ip-wrong': {
      const tunnel = tunnelTo(lab, instance.host, 'network1');
      await compute.vsctl(['set', 'Interface', tunnel.port, `options:remote_ip=${WRONG_REMOTE_IP}`]);
      await compute.appctl(['revalidator/wait']);
      break;
    }
    case 'underlay-loss':
      // The machine has no sch_netem (tc ... netem loss 100% fails): an nftables bridge-family rule on
      // the underlay switch drops every frame entering it from the host's port instead.
      await removeUnderlayLoss(lab);
      await run(lab.underlay.namespace, ['nft', 'add', 'table', 'bridge', UNDERLAY_LOSS_TABLE]);
      await run(lab.underlay.namespace, ['nft', 'add', 'chain', 'bridge', UNDERLAY_LOSS_TABLE, 'underlay_loss', '{ type filter hook forward priority 0; policy accept; }']);
      await run(lab.underlay.namespace, ['nft', 'add', 'rule', 'bridge', UNDERLAY_LOSS_TABLE, 'underlay_loss', 'iifname', instance.host, 'counter', 'drop']);
      break;
    default:
      return assertNever(scenario);
  }
  return info;
}

/** Undoes a scenario (a scenario that is not in effect is put back to the healthy state all the same). */
export async function repairLab(lab: LabAccess, scenario: BreakScenario, options: BreakOptions = {}): Promise<void> {
  const info = describeBreak(lab, scenario, options);
  const instance = findInstance(lab, info.instance);
  const compute = lab.ovs(instance.host);
  const network = lab.ovs('network1');
  switch (scenario) {
    case 'tun-to-vlan-removed':
      await network.ofctl(['add-flow', 'br-tun', tunToLvFlow({ localVlan: findHost(lab, 'network1').localVlan, segmentationId: lab.network.segmentationId }, lab.network.networkType)]);
      await network.appctl(['revalidator/wait']);
      break;
    case 'vlan-to-tun-removed': {
      const host = findHost(lab, instance.host);
      const tunnels = host.tunnels.map((t) => ({ name: t.port, ofport: t.ofport }));
      await compute.ofctl(['add-flow', 'br-tun', lvToTunFlow({ localVlan: host.localVlan, segmentationId: lab.network.segmentationId }, tunnels)]);
      await compute.appctl(['revalidator/wait']);
      break;
    }
    case 'sg-drop': {
      // Delete every copy this scenario inserted; iptables -D fails once none is left.
      for (let i = 0; i < 16; i++) {
        const rules = await run(compute.netns, ['iptables', '-S', instance.chains.ingress]);
        if (!rules.includes(SG_DROP_COMMENT)) break;
        await run(compute.netns, ['iptables', '-D', instance.chains.ingress, ...SG_DROP_RULE]);
      }
      break;
    }
    case 'qvo-untagged':
      await compute.vsctl(['set', 'Port', instance.devices.qvo, `tag=${instance.localVlan}`]);
      await compute.appctl(['revalidator/wait']);
      break;
    case 'dnsmasq-stopped':
      await stopDnsmasq(lab);
      await spawnDnsmasq(lab, lab.persistent);
      break;
    case 'gre-remote-ip-wrong': {
      const tunnel = tunnelTo(lab, instance.host, 'network1');
      await compute.vsctl(['set', 'Interface', tunnel.port, `options:remote_ip=${tunnel.remoteIp}`]);
      await compute.appctl(['revalidator/wait']);
      break;
    }
    case 'underlay-loss':
      await removeUnderlayLoss(lab);
      break;
    default:
      assertNever(scenario);
  }
}

/** The nftables table (bridge family, in the underlay namespace) of underlay-loss. */
export const UNDERLAY_LOSS_TABLE = 'hoptrace_lab_underlay_loss';

async function removeUnderlayLoss(lab: NeutronLabLayout): Promise<void> {
  const tables = await run(lab.underlay.namespace, ['nft', 'list', 'tables', 'bridge']);
  if (tables.split('\n').some((line) => line.trim() === `table bridge ${UNDERLAY_LOSS_TABLE}`)) {
    await run(lab.underlay.namespace, ['nft', 'delete', 'table', 'bridge', UNDERLAY_LOSS_TABLE]);
  }
}

/** An address of the underlay no host has: tunnel frames sent there go nowhere. */
export const WRONG_REMOTE_IP = '192.0.2.99';
const SG_DROP_COMMENT = 'hoptrace-lab sg-drop';
const SG_DROP_RULE = ['-m', 'comment', '--comment', SG_DROP_COMMENT, '-j', 'DROP'];

/** What a scenario changes and breaks, without changing anything. */
export function describeBreak(lab: NeutronLabLayout, scenario: BreakScenario, options: BreakOptions = {}): BreakInfo {
  const instance = findInstance(lab, options.instance ?? lab.instances[0]?.label ?? 'vm1');
  const toDhcp = { kind: 'ping', target: lab.dhcp.ip } as const;
  const base = { scenario, instance: instance.label };
  switch (scenario) {
    case 'tun-to-vlan-removed':
      return { ...base, host: 'network1', breaks: toDhcp, change: `br-tun table ${tunToLvTable(lab.network.networkType)} flow tun_id=0x${lab.network.segmentationId.toString(16)} -> local VLAN ${findHost(lab, 'network1').localVlan} removed on network1` };
    case 'vlan-to-tun-removed':
      return { ...base, host: instance.host, breaks: toDhcp, change: `br-tun table 22 flow dl_vlan=${instance.localVlan} -> set_tunnel removed on ${instance.host} (and table 20 learned flows of that VLAN)` };
    case 'sg-drop':
      return { ...base, host: instance.host, breaks: toDhcp, change: `DROP rule at the top of ${instance.chains.ingress} on ${instance.host}: replies to ${instance.label} die in qbr` };
    case 'qvo-untagged':
      return { ...base, host: instance.host, breaks: toDhcp, change: `tag removed from ${instance.devices.qvo} on ${instance.host} (frames enter br-int untagged, br-tun has no flow for them)` };
    case 'dnsmasq-stopped':
      return { ...base, host: 'network1', breaks: { kind: 'dhcp' }, change: `dnsmasq in ${lab.dhcp.namespace} stopped` };
    case 'gre-remote-ip-wrong': {
      const tunnel = tunnelTo(lab, instance.host, 'network1');
      return { ...base, host: instance.host, breaks: toDhcp, change: `${tunnel.port} on ${instance.host}: remote_ip ${tunnel.remoteIp} -> ${WRONG_REMOTE_IP}` };
    }
    case 'underlay-loss':
      return {
        ...base,
        host: instance.host,
        breaks: toDhcp,
        change: `every frame ${instance.host} sends into the underlay dropped by the underlay switch (nft bridge table ${UNDERLAY_LOSS_TABLE}, port ${instance.host}, in the underlay namespace: no host snapshot shows it); ${instance.host}'s tunnel traffic vanishes after its br-phy, and ${instance.label} must already know the target's MAC (its ARP requests vanish too)`,
      };
    default:
      return assertNever(scenario);
  }
}

function tunnelTo(lab: NeutronLabLayout, from: HostLabel, to: HostLabel): { port: string; remoteIp: string } {
  const tunnel = findHost(lab, from).tunnels.find((t) => t.remoteHost === to);
  if (tunnel === undefined) throw new Error(`lab ${lab.id}: no tunnel from ${from} to ${to}`);
  return tunnel;
}

function assertNever(value: never): never {
  throw new Error(`unknown break scenario ${String(value)}`);
}
