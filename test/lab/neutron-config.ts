// What the Neutron ML2/OVS agent, the hybrid iptables firewall, the DHCP agent and the L3 agent
// would configure, as text: device names from port ids, br-int and br-tun flow tables, the
// neutron-openvswi filter rules, the qrouter NAT rules, the dnsmasq files. Pure functions: the lab
// (neutron-lab.ts) applies them and the break scenarios (break.ts) undo single pieces of them.
//
// br-tun tables, as neutron/plugins/ml2/drivers/openvswitch/agent/common/constants.py numbers them:
//   0 LOCAL_SWITCHING (in_port dispatch)  2 PATCH_LV_TO_TUN  3 GRE_TUN_TO_LV  4 VXLAN_TUN_TO_LV
//   6 GENEVE_TUN_TO_LV  10 LEARN_FROM_TUN  20 UCAST_TO_TUN  22 FLOOD_TO_TUN
// br-int tables (hybrid firewall): 0 LOCAL_SWITCHING, 23 CANARY, 24 ARP_SPOOF, 25 MAC_SPOOF, 60 TRANSIENT.
import { randomBytes, randomUUID } from 'node:crypto';

export const BR_TUN_TABLES = {
  localSwitching: 0,
  patchLvToTun: 2,
  greTunToLv: 3,
  vxlanTunToLv: 4,
  geneveTunToLv: 6,
  learnFromTun: 10,
  ucastToTun: 20,
  floodToTun: 22,
} as const;

export const BR_INT_TABLES = { localSwitching: 0, canary: 23, arpSpoof: 24, macSpoof: 25, transient: 60 } as const;

/** Cookie of every flow the lab installs as "the agent" (Neutron stamps one per agent run). */
export const AGENT_COOKIE = '0x6e6c6162'; // "nlab"

/**
 * Neutron-like UUIDs. A test lab's ids end in `ee` + the owner pid (10 hex digits) so namespaces
 * named after them (qdhcp-<net>, qrouter-<router>) can be swept when that process dies; a CLI lab's
 * never do (its owner exits on purpose).
 */
export function neutronUuid(ownerPid: number | undefined): string {
  const uuid = randomUUID();
  if (ownerPid === undefined) {
    const tail = uuid.slice(24);
    return tail.startsWith('ee') ? `${uuid.slice(0, 24)}0${tail.slice(1)}` : uuid;
  }
  return `${uuid.slice(0, 24)}ee${ownerPid.toString(16).padStart(10, '0')}`;
}

/** The owner pid a test lab's uuid carries, or undefined. */
export function uuidOwner(uuid: string): number | undefined {
  const match = /-ee([0-9a-f]{10})$/.exec(uuid);
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], 16);
}

/** Neutron's device name: prefix + the first 11 characters of the port id (IFNAMSIZ). */
export function deviceName(prefix: 'tap' | 'qbr' | 'qvb' | 'qvo' | 'qr-' | 'qg-' | 'ns-', portId: string): string {
  return `${prefix}${portId.slice(0, 11)}`;
}

/** Neutron's iptables chain suffix: the first 10 characters of the port id. */
export function chainId(portId: string): string {
  return portId.slice(0, 10);
}

/** Tenant network types the lab can build (ml2 type drivers with a br-tun tunnel). */
export type TunnelType = 'gre' | 'vxlan';

/** br-tun's tunnel -> local VLAN table of a tunnel type (3 GRE_TUN_TO_LV, 4 VXLAN_TUN_TO_LV). */
export function tunToLvTable(type: TunnelType = 'gre'): number {
  return type === 'vxlan' ? BR_TUN_TABLES.vxlanTunToLv : BR_TUN_TABLES.greTunToLv;
}

/** Neutron's tunnel port name: <type>-<remote IPv4 in hex> (gre-c0000215, vxlan-c0000215). */
export function tunnelPortName(type: TunnelType, remoteIp: string): string {
  return `${type}-${remoteIp.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`;
}

/** A random MAC in Neutron's base_mac fa:16:3e:00:00:00. */
export function neutronMac(): string {
  return `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

export interface TunnelPort {
  name: string;
  ofport: number;
}

export interface BrTunSpec {
  patchIntOfport: number;
  tunnels: readonly TunnelPort[];
  /** Local VLAN <-> segmentation id (tun_id) of every network on this host. */
  networks: readonly { localVlan: number; segmentationId: number }[];
  /** The type of every tunnel port (default gre): picks the tunnel -> local VLAN table. */
  tunnelType?: TunnelType;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The flows neutron-openvswitch-agent keeps in br-tun for GRE or VXLAN networks (no l2population, no ARP responder). */
export function brTunFlows(spec: BrTunSpec): string[] {
  const t = BR_TUN_TABLES;
  const type = spec.tunnelType ?? 'gre';
  const c = `cookie=${AGENT_COOKIE},`;
  const flows = [
    `${c}table=${t.localSwitching},priority=1,in_port=${spec.patchIntOfport},actions=resubmit(,${t.patchLvToTun})`,
    ...spec.tunnels.map((p) => `${c}table=${t.localSwitching},priority=1,in_port=${p.ofport},actions=resubmit(,${tunToLvTable(type)})`),
    `${c}table=${t.localSwitching},priority=0,actions=drop`,
    `${c}table=${t.patchLvToTun},priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,${t.ucastToTun})`,
    `${c}table=${t.patchLvToTun},priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,${t.floodToTun})`,
    ...spec.networks.map((n) => tunToLvFlow(n, type)),
    `${c}table=${t.greTunToLv},priority=0,actions=drop`,
    `${c}table=${t.vxlanTunToLv},priority=0,actions=drop`,
    `${c}table=${t.geneveTunToLv},priority=0,actions=drop`,
    `${c}table=${t.learnFromTun},priority=1,actions=learn(table=${t.ucastToTun},hard_timeout=300,priority=1,cookie=${AGENT_COOKIE},` +
      'NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],' +
      `output:NXM_OF_IN_PORT[]),output:${spec.patchIntOfport}`,
    `${c}table=${t.ucastToTun},priority=0,actions=resubmit(,${t.floodToTun})`,
    ...spec.networks.map((n) => lvToTunFlow(n, spec.tunnels)),
    `${c}table=${t.floodToTun},priority=0,actions=drop`,
  ];
  return flows;
}

/** Table 3 (GRE) or 4 (VXLAN): frames of tunnel `segmentationId` get the host's local VLAN, then learn (table 10). */
export function tunToLvFlow(n: { localVlan: number; segmentationId: number }, type: TunnelType = 'gre'): string {
  return `cookie=${AGENT_COOKIE},${tunToLvMatch(n.segmentationId, type)},actions=mod_vlan_vid:${n.localVlan},resubmit(,${BR_TUN_TABLES.learnFromTun})`;
}

export function tunToLvMatch(segmentationId: number, type: TunnelType = 'gre'): string {
  return `table=${tunToLvTable(type)},priority=1,tun_id=${hex(segmentationId)}`;
}

/** Table 22: local VLAN frames leave untagged with the network's tun_id, flooded to every tunnel. */
export function lvToTunFlow(n: { localVlan: number; segmentationId: number }, tunnels: readonly TunnelPort[]): string {
  const outputs = tunnels.map((p) => `output:${p.ofport}`).join(',');
  return `cookie=${AGENT_COOKIE},${lvToTunMatch(n.localVlan)},actions=strip_vlan,set_tunnel:${hex(n.segmentationId)}${outputs === '' ? '' : `,${outputs}`}`;
}

export function lvToTunMatch(localVlan: number): string {
  return `table=${BR_TUN_TABLES.floodToTun},priority=1,dl_vlan=${localVlan}`;
}

/** Learned table-20 flows of one local VLAN (what `learn` in table 10 wrote), for non-strict del-flows. */
export function learnedUcastMatch(localVlan: number): string {
  return `table=${BR_TUN_TABLES.ucastToTun},vlan_tci=${hex(localVlan)}/0x0fff`;
}

export interface VmPortFlowSpec {
  ofport: number;
  mac: string;
  ip: string;
}

/** br-int with the hybrid firewall: canary, ARP and MAC anti-spoofing for VM ports, NORMAL in table 60. */
export function brIntFlows(vmPorts: readonly VmPortFlowSpec[]): string[] {
  const t = BR_INT_TABLES;
  const c = `cookie=${AGENT_COOKIE},`;
  return [
    `${c}table=${t.localSwitching},priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop`,
    ...vmPorts.flatMap((p) => [
      `${c}table=${t.localSwitching},priority=10,arp,in_port=${p.ofport},actions=resubmit(,${t.arpSpoof})`,
      `${c}table=${t.localSwitching},priority=9,in_port=${p.ofport},actions=resubmit(,${t.macSpoof})`,
      `${c}table=${t.arpSpoof},priority=2,arp,in_port=${p.ofport},arp_spa=${p.ip},actions=resubmit(,${t.macSpoof})`,
      `${c}table=${t.macSpoof},priority=2,in_port=${p.ofport},dl_src=${p.mac},actions=resubmit(,${t.transient})`,
    ]),
    `${c}table=${t.localSwitching},priority=0,actions=resubmit(,${t.transient})`,
    `${c}table=${t.canary},priority=0,actions=drop`,
    `${c}table=${t.arpSpoof},priority=0,actions=drop`,
    `${c}table=${t.transient},priority=3,actions=NORMAL`,
  ];
}

export interface FirewallPort {
  portId: string;
  tap: string;
  mac: string;
  ip: string;
}

/** Filter chain names of one port: ingress (to the VM), egress (from the VM), spoofing. */
export function firewallChains(portId: string): { ingress: string; egress: string; spoof: string } {
  const id = chainId(portId);
  return { ingress: `neutron-openvswi-i${id}`, egress: `neutron-openvswi-o${id}`, spoof: `neutron-openvswi-s${id}` };
}

/**
 * iptables-restore input of the hybrid (iptables) firewall driver on a compute host: every bridged
 * frame of a tap goes through neutron-openvswi-sg-chain to the port's chains. The security group
 * allows ICMP, DHCP from the subnet's server and established traffic in, everything out.
 */
export function hybridFirewallRules(ports: readonly FirewallPort[], dhcpServerIp: string): string {
  const chains = ports.map((p) => firewallChains(p.portId));
  const lines = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':neutron-filter-top - [0:0]',
    ':neutron-openvswi-FORWARD - [0:0]',
    ':neutron-openvswi-INPUT - [0:0]',
    ':neutron-openvswi-OUTPUT - [0:0]',
    ':neutron-openvswi-local - [0:0]',
    ':neutron-openvswi-sg-chain - [0:0]',
    ':neutron-openvswi-sg-fallback - [0:0]',
    ...chains.flatMap((c) => [`:${c.ingress} - [0:0]`, `:${c.egress} - [0:0]`, `:${c.spoof} - [0:0]`]),
    '-A INPUT -j neutron-openvswi-INPUT',
    '-A FORWARD -j neutron-filter-top',
    '-A FORWARD -j neutron-openvswi-FORWARD',
    '-A OUTPUT -j neutron-filter-top',
    '-A OUTPUT -j neutron-openvswi-OUTPUT',
    '-A neutron-filter-top -j neutron-openvswi-local',
  ];
  ports.forEach((p, i) => {
    const c = chains[i];
    if (c === undefined) return;
    lines.push(
      `-A neutron-openvswi-FORWARD -m physdev --physdev-out ${p.tap} --physdev-is-bridged -m comment --comment "Direct traffic from the VM interface to the security group chain." -j neutron-openvswi-sg-chain`,
      `-A neutron-openvswi-FORWARD -m physdev --physdev-in ${p.tap} --physdev-is-bridged -m comment --comment "Direct traffic from the VM interface to the security group chain." -j neutron-openvswi-sg-chain`,
      `-A neutron-openvswi-INPUT -m physdev --physdev-in ${p.tap} --physdev-is-bridged -m comment --comment "Direct incoming traffic from VM to the security group chain." -j ${c.egress}`,
      `-A ${c.ingress} -m state --state RELATED,ESTABLISHED -m comment --comment "Direct packets associated with a known session to the RETURN chain." -j RETURN`,
      `-A ${c.ingress} -s ${dhcpServerIp}/32 -p udp -m udp --sport 67 --dport 68 -j RETURN`,
      `-A ${c.ingress} -p icmp -j RETURN`,
      `-A ${c.ingress} -m state --state INVALID -m comment --comment "Drop packets that appear related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in conntrack." -j DROP`,
      `-A ${c.ingress} -m comment --comment "Send unmatched traffic to the fallback chain." -j neutron-openvswi-sg-fallback`,
      `-A ${c.egress} -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -m comment --comment "Allow DHCP client traffic." -j RETURN`,
      `-A ${c.egress} -j ${c.spoof}`,
      `-A ${c.egress} -p udp -m udp --sport 68 --dport 67 -m comment --comment "Allow DHCP client traffic." -j RETURN`,
      `-A ${c.egress} -p udp -m udp --sport 67 --dport 68 -m comment --comment "Prevent DHCP Spoofing by VM." -j DROP`,
      `-A ${c.egress} -m state --state RELATED,ESTABLISHED -m comment --comment "Direct packets associated with a known session to the RETURN chain." -j RETURN`,
      `-A ${c.egress} -j RETURN`,
      `-A ${c.egress} -m state --state INVALID -m comment --comment "Drop packets that appear related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in conntrack." -j DROP`,
      `-A ${c.egress} -m comment --comment "Send unmatched traffic to the fallback chain." -j neutron-openvswi-sg-fallback`,
      `-A ${c.spoof} -s ${p.ip}/32 -m mac --mac-source ${p.mac.toUpperCase()} -m comment --comment "Allow traffic from defined IP/MAC pairs." -j RETURN`,
      `-A ${c.spoof} -m comment --comment "Drop traffic without an IP/MAC allow rule." -j DROP`,
      `-A neutron-openvswi-sg-chain -m physdev --physdev-out ${p.tap} --physdev-is-bridged -m comment --comment "Jump to the VM specific chain." -j ${c.ingress}`,
      `-A neutron-openvswi-sg-chain -m physdev --physdev-in ${p.tap} --physdev-is-bridged -m comment --comment "Jump to the VM specific chain." -j ${c.egress}`,
    );
  });
  lines.push(
    '-A neutron-openvswi-sg-chain -j ACCEPT',
    '-A neutron-openvswi-sg-fallback -m comment --comment "Default drop rule for unmatched traffic." -j DROP',
    'COMMIT',
    '',
  );
  return lines.join('\n');
}

/** iptables-restore input of a qrouter namespace (L3 agent): SNAT of the tenant subnet to the gateway address. */
export function routerNatRules(qg: string, snatAddress: string): string {
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':neutron-filter-top - [0:0]',
    ':neutron-l3-agent-FORWARD - [0:0]',
    ':neutron-l3-agent-INPUT - [0:0]',
    ':neutron-l3-agent-OUTPUT - [0:0]',
    ':neutron-l3-agent-local - [0:0]',
    ':neutron-l3-agent-scope - [0:0]',
    '-A INPUT -j neutron-l3-agent-INPUT',
    '-A FORWARD -j neutron-filter-top',
    '-A FORWARD -j neutron-l3-agent-FORWARD',
    '-A OUTPUT -j neutron-filter-top',
    '-A OUTPUT -j neutron-l3-agent-OUTPUT',
    '-A neutron-filter-top -j neutron-l3-agent-local',
    '-A neutron-l3-agent-FORWARD -j neutron-l3-agent-scope',
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':neutron-l3-agent-OUTPUT - [0:0]',
    ':neutron-l3-agent-POSTROUTING - [0:0]',
    ':neutron-l3-agent-PREROUTING - [0:0]',
    ':neutron-l3-agent-float-snat - [0:0]',
    ':neutron-l3-agent-snat - [0:0]',
    ':neutron-postrouting-bottom - [0:0]',
    '-A PREROUTING -j neutron-l3-agent-PREROUTING',
    '-A OUTPUT -j neutron-l3-agent-OUTPUT',
    '-A POSTROUTING -j neutron-l3-agent-POSTROUTING',
    '-A POSTROUTING -j neutron-postrouting-bottom',
    `-A neutron-l3-agent-POSTROUTING ! -i ${qg} ! -o ${qg} -m conntrack ! --ctstate DNAT -j ACCEPT`,
    '-A neutron-l3-agent-snat -j neutron-l3-agent-float-snat',
    `-A neutron-l3-agent-snat -o ${qg} -j SNAT --to-source ${snatAddress}`,
    `-A neutron-l3-agent-snat -m mark ! --mark 0x2/0xffff -m conntrack --ctstate DNAT -j SNAT --to-source ${snatAddress}`,
    '-A neutron-postrouting-bottom -m comment --comment "Perform source NAT on outgoing traffic." -j neutron-l3-agent-snat',
    'COMMIT',
    '',
  ].join('\n');
}

export interface DhcpHost {
  mac: string;
  ip: string;
}

/** dnsmasq --dhcp-hostsfile lines, as the DHCP agent writes them. */
export function dnsmasqHosts(hosts: readonly DhcpHost[]): string {
  return hosts.map((h) => `${h.mac},host-${h.ip.replaceAll('.', '-')}.openstacklocal,${h.ip}\n`).join('');
}

/** dnsmasq --dhcp-optsfile lines: router and DNS server of the subnet. */
export function dnsmasqOpts(subnetTag: string, router: string, dnsServer: string): string {
  return `tag:${subnetTag},option:router,${router}\ntag:${subnetTag},option:dns-server,${dnsServer}\n`;
}

/** "a.b.c.d/len" → netmask "255.255.255.192". */
export function netmaskOf(prefixLength: number): string {
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join('.');
}
