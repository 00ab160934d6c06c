// A Neutron ML2/OVS cloud in network namespaces: compute hosts and a network host, each an OvsHost
// (own ovsdb-server + ovs-vswitchd, userspace datapath), wired the way neutron-openvswitch-agent
// with the hybrid iptables firewall, the DHCP agent and the legacy L3 agent wire them, with GRE
// (default) or VXLAN (tunnelType 'vxlan': ports vxlan-<hex>, br-tun table 4) tenant networks that
// really carry frames between the hosts over an underlay.
//
//  instance ns vmN                 host ns compute1                                        underlay ns
//  eth0 fa:16:3e:.. ═veth═ tapX ─ qbrX (Linux bridge, iptables neutron-openvswi-*) ─ qvbX
//                          ═veth═ qvoX (br-int, tag = local VLAN) ─ patch-tun ══ patch-int (br-tun)
//                          gre-c0000215 (br-tun, remote_ip 192.0.2.21, key=flow) ─ native tunnel ─▶
//                          br-phy (192.0.2.11/24) ─ eth1 ═veth═ compute1 ─ Linux bridge "underlay"
//  host ns network1: br-phy/eth1 (192.0.2.21) ◀─ GRE ─ br-tun ══ br-int ─ tapD (qdhcp-<net> ns, dnsmasq)
//                                                                     └─ qr-R (qrouter-<router> ns) ─ qg-R (br-ex) ─ eth2 ═veth═ eth0 (ext ns)
//
// Addresses (TEST-NET only; none of them lives in the root namespace, so labs never collide):
//   tenant subnet   203.0.113.0/26    router qr .1, DHCP port .2, instances .11, .12, ...
//   external net    203.0.113.192/26  upstream host (ext ns) .193, router qg .200 (SNAT address)
//   underlay        192.0.2.0/24      compute1 .11, compute2 .12, network1 .21; .99 is never used
//   management      198.51.100.x/28   from ovs-lab.ts (mgmt0 of each host, collector in the root ns)
// The instances' MTU is 1458 (1500 less GRE over IPv4) or 1450 (less VXLAN over IPv4), as Neutron sets it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addNamespacePort,
  createLab,
  Lab,
  ofctlShow,
  OvsHost,
  setSflow,
  type PersistentLabNames,
  type SflowCollector,
} from '../support/ovs-lab.js';
import { addLinuxBridge, addNetns, addVeth, disableTxOffload, exec, ipIn, linkInfo, listNetns, run, waitFor } from '../support/netns.js';
import {
  brIntFlows,
  brTunFlows,
  deviceName,
  dnsmasqHosts,
  dnsmasqOpts,
  firewallChains,
  hybridFirewallRules,
  netmaskOf,
  neutronMac,
  neutronUuid,
  routerNatRules,
  tunnelPortName,
  uuidOwner,
  type TunnelType,
} from './neutron-config.js';

export const TENANT = { cidr: '203.0.113.0/26', network: '203.0.113.0', prefixLength: 26, gatewayIp: '203.0.113.1', dhcpIp: '203.0.113.2', firstInstance: 11 } as const;
export const EXTERNAL = { cidr: '203.0.113.192/26', prefixLength: 26, upstreamIp: '203.0.113.193', routerIp: '203.0.113.200' } as const;
export const UNDERLAY = { cidr: '192.0.2.0/24', prefixLength: 24, unusedIp: '192.0.2.99' } as const;
export const SEGMENTATION_ID = 73; // tun_id 0x49
/** The instance MTU of a GRE network (1500 less 42: IPv4 20 + GRE with key 8 + inner Ethernet 14). */
export const INSTANCE_MTU = 1458;
/** Neutron's network MTU by type: 1500 less the encapsulation (GRE 42, VXLAN 50: IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14). */
export const INSTANCE_MTUS: Readonly<Record<TunnelType, number>> = { gre: INSTANCE_MTU, vxlan: 1450 };
const UNDERLAY_ADDRESSES: Record<string, string> = { compute1: '192.0.2.11', compute2: '192.0.2.12', network1: '192.0.2.21' };
/** Local VLANs differ per host on purpose: a walk must translate, never assume. */
const LOCAL_VLANS: Record<string, number> = { compute1: 1, compute2: 2, network1: 3 };
const STATE_DIR_PREFIX = 'hoptrace-nlab-';

export type HostRole = 'compute' | 'network';
export type HostLabel = 'compute1' | 'compute2' | 'network1';

export interface NeutronLabOptions {
  /** 1 (compute1 + network1, default) or 2 (adds compute2 with a second instance). */
  computeHosts?: 1 | 2;
  /**
   * sFlow collector "address:port", or ":port" for that port on the lab's management address (what
   * a collector in the root namespace should bind, or 0.0.0.0). Default: a UDP socket in this
   * process on the management address (lab.collector).
   */
  collector?: string;
  /** sFlow sampling rate, 1 in N (default 1: every frame). */
  sampling?: number;
  /** sFlow counter polling interval in seconds (default 10). */
  polling?: number;
  /** Tenant network type: the br-tun tunnel ports' type (default gre). */
  tunnelType?: TunnelType;
  /** sFlow header bytes (OVS default 128 when unset). */
  header?: number;
  /** Keep everything after teardown (debugging). */
  keep?: boolean;
  /** A lab that outlives this process (the CLI); see ovs-lab.ts PersistentLabNames. */
  persistent?: PersistentLabNames;
}

export interface LabHostLayout {
  label: HostLabel;
  role: HostRole;
  /** The host's namespace (ovs-vswitchd, ovsdb-server, bridges, iptables). */
  netns: string;
  /** OVS run/db/log dir: OVS_RUNDIR for ovs-vsctl/ofctl/appctl. */
  dir: string;
  /** mgmt0's address: the sFlow agent address. */
  mgmtAddress: string;
  underlay: { device: 'eth1'; bridge: 'br-phy'; address: string; prefixLength: number };
  /** The tenant network's local VLAN on this host (br-int tag). */
  localVlan: number;
  bridges: string[];
  /** OpenFlow port numbers: ofports[bridge][port]. */
  ofports: Record<string, Record<string, number>>;
  /** Datapath ids (16 hex digits) by bridge. */
  datapathIds: Record<string, string>;
  tunnels: { port: string; remoteIp: string; remoteHost: HostLabel; localIp: string; ofport: number }[];
  /** net.bridge.bridge-nf-call-iptables=1 took effect (br_netfilter present): iptables sees bridged frames. */
  bridgeNetfilter: boolean;
}

export interface LabInstance {
  label: string;
  host: HostLabel;
  netns: string;
  /** Neutron port id, OVSDB external_ids:iface-id. */
  portId: string;
  vmUuid: string;
  mac: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  mtu: number;
  devices: { eth0: 'eth0'; tap: string; qbr: string; qvb: string; qvo: string };
  localVlan: number;
  /** qvo's OpenFlow port on br-int. */
  ofport: number;
  /** ifIndex in the host namespace (what sFlow counters report). */
  ifIndex: { tap: number; qvb: number; qvo: number; qbr: number };
  chains: { ingress: string; egress: string; spoof: string };
}

export interface NamespacePortLayout {
  portId: string;
  device: string;
  mac: string;
  ip: string;
  bridge: string;
}

export interface NeutronLabLayout {
  /** The ovs-lab Lab id (namespace prefix of hosts and instances). */
  id: string;
  /** ovs-lab's temp dir (host dirs inside). */
  labDir: string;
  /** This layer's dir (dnsmasq files, flow files). */
  stateDir: string;
  /** Made for the CLI: outlives its process, ended from its state file. */
  persistent: boolean;
  mgmt: { network: string; collectorAddress: string; bridge: string };
  sflow: { target: string; sampling: number; polling: number; header: number | undefined; agent: 'mgmt0' };
  network: { id: string; name: string; subnetId: string; cidr: string; gatewayIp: string; segmentationId: number; networkType: TunnelType; mtu: number };
  hosts: LabHostLayout[];
  instances: LabInstance[];
  dhcp: NamespacePortLayout & { host: 'network1'; namespace: string; dir: string; pidFile: string; pid: number };
  router: { id: string; host: 'network1'; namespace: string; qr: NamespacePortLayout; qg: NamespacePortLayout; upstreamIp: string };
  external: { namespace: string; device: 'eth0'; ip: string; mac: string; cidr: string; brExPort: 'eth2' };
  underlay: { namespace: string; bridge: 'underlay'; cidr: string };
  /** Every namespace of the lab, machine-wide names. */
  namespaces: string[];
  /** Root-namespace links (the management bridge and host veths). */
  rootLinks: string[];
  /** Setup time by phase, ms. */
  timings: Record<string, number>;
}

export interface NeutronLab extends NeutronLabLayout {
  /** The ovs-lab Lab underneath (addNamespace, addInstance, openCollector for extra parts). */
  readonly base: Lab;
  /** The OVS host of a label (ovs-vsctl/ofctl/appctl bound to it). */
  ovs(label: HostLabel): OvsHost;
  host(label: HostLabel): LabHostLayout;
  instance(label: string): LabInstance;
  /** The in-process sFlow collector when no `collector` option was given. */
  readonly collector: SflowCollector | undefined;
  /** Ends every process, namespace, link and directory of the lab (idempotent). */
  teardown(): Promise<void>;
}

const liveDnsmasq = new Map<number, ChildProcess>();
let exitHookInstalled = false;

/** Builds the lab. Everything it made is undone when setup fails half way. */
export async function createNeutronLab(options: NeutronLabOptions = {}): Promise<NeutronLab> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const mark = (phase: string, since: number): number => {
    const now = performance.now();
    timings[phase] = Math.round(now - since);
    return now;
  };
  const owner = options.persistent === undefined ? process.pid : undefined;
  await sweepStaleNeutronLabs();
  const base = await createLab({ ...(options.keep === undefined ? {} : { keep: options.keep }), ...(options.persistent === undefined ? {} : { persistent: options.persistent }) });
  const stateDir = mkdtempSync(join(tmpdir(), `${STATE_DIR_PREFIX}${owner ?? options.persistent?.id ?? 'x'}-`));
  mark('createLab', t0);
  const handle = new Builder(base, stateDir, options, owner);
  if (owner !== undefined) installExitHook();
  try {
    await handle.build(timings);
  } catch (error) {
    await handle.lab().teardown().catch(() => undefined);
    throw error;
  }
  mark('total', t0);
  const lab = handle.lab();
  lab.timings['createLab'] = timings['createLab'] ?? 0;
  lab.timings['total'] = timings['total'] ?? 0;
  return lab;
}

const HOST_BRIDGES: Record<HostRole, string[]> = { compute: ['br-int', 'br-tun', 'br-phy'], network: ['br-int', 'br-tun', 'br-phy', 'br-ex'] };

class Builder {
  readonly base: Lab;
  readonly stateDir: string;
  readonly options: NeutronLabOptions;
  readonly owner: number | undefined;
  readonly hostLabels: HostLabel[];
  readonly ovsHosts = new Map<HostLabel, OvsHost>();
  readonly layout: NeutronLabLayout;
  collector: SflowCollector | undefined;
  #lab: NeutronLab | undefined;
  dnsmasq: ChildProcess | undefined;

  constructor(base: Lab, stateDir: string, options: NeutronLabOptions, owner: number | undefined) {
    this.base = base;
    this.stateDir = stateDir;
    this.options = options;
    this.owner = owner;
    this.hostLabels = options.computeHosts === 2 ? ['compute1', 'compute2', 'network1'] : ['compute1', 'network1'];
    const netId = neutronUuid(owner);
    const routerId = neutronUuid(owner);
    const dhcpPort = neutronUuid(owner);
    const qrPort = neutronUuid(owner);
    const qgPort = neutronUuid(owner);
    const dhcpDir = join(stateDir, 'dhcp', netId);
    const tunnelType = options.tunnelType ?? 'gre';
    this.layout = {
      id: base.id,
      labDir: base.dir,
      stateDir,
      persistent: options.persistent !== undefined,
      mgmt: { network: base.mgmtNetwork, collectorAddress: base.collectorAddress, bridge: base.mgmtBridge },
      sflow: { target: '', sampling: options.sampling ?? 1, polling: options.polling ?? 10, header: options.header, agent: 'mgmt0' },
      network: { id: netId, name: 'private', subnetId: neutronUuid(owner), cidr: TENANT.cidr, gatewayIp: TENANT.gatewayIp, segmentationId: SEGMENTATION_ID, networkType: tunnelType, mtu: INSTANCE_MTUS[tunnelType] },
      hosts: [],
      instances: [],
      dhcp: {
        host: 'network1', namespace: `qdhcp-${netId}`, portId: dhcpPort, device: deviceName('tap', dhcpPort), mac: neutronMac(), ip: TENANT.dhcpIp,
        bridge: 'br-int', dir: dhcpDir, pidFile: join(dhcpDir, 'pid'), pid: 0,
      },
      router: {
        id: routerId, host: 'network1', namespace: `qrouter-${routerId}`,
        qr: { portId: qrPort, device: deviceName('qr-', qrPort), mac: neutronMac(), ip: TENANT.gatewayIp, bridge: 'br-int' },
        qg: { portId: qgPort, device: deviceName('qg-', qgPort), mac: neutronMac(), ip: EXTERNAL.routerIp, bridge: 'br-ex' },
        upstreamIp: EXTERNAL.upstreamIp,
      },
      external: { namespace: '', device: 'eth0', ip: EXTERNAL.upstreamIp, mac: neutronMac().replace(/^fa:16:3e/, '02:00:5e'), cidr: EXTERNAL.cidr, brExPort: 'eth2' },
      underlay: { namespace: '', bridge: 'underlay', cidr: UNDERLAY.cidr },
      namespaces: [],
      rootLinks: [],
      timings: {},
    };
  }

  lab(): NeutronLab {
    if (this.#lab !== undefined) return this.#lab;
    const builder = this;
    let tornDown = false;
    const lab: NeutronLab = Object.assign(this.layout, {
      base: builder.base,
      ovs: (label: HostLabel): OvsHost => {
        const host = builder.ovsHosts.get(label);
        if (host === undefined) throw new Error(`lab ${builder.layout.id}: no host ${label}`);
        return host;
      },
      host: (label: HostLabel): LabHostLayout => findHost(builder.layout, label),
      instance: (label: string): LabInstance => findInstance(builder.layout, label),
      collector: builder.collector,
      teardown: async (): Promise<void> => {
        if (tornDown) return;
        tornDown = true;
        const errors: unknown[] = [];
        if (builder.options.keep !== true) {
          try {
            await stopDnsmasq(builder.layout);
          } catch (error) {
            errors.push(error);
          }
        }
        try {
          await builder.base.teardown();
        } catch (error) {
          errors.push(error);
        }
        if (builder.options.keep !== true) rmSync(builder.stateDir, { recursive: true, force: true });
        liveLabs.delete(lab);
        releaseSignalHooks();
        if (errors.length === 1) throw errors[0];
        if (errors.length > 1) throw new AggregateError(errors, `neutron lab ${builder.layout.id}: ${errors.length} teardown steps failed`);
      },
    });
    this.#lab = lab;
    if (this.owner !== undefined) liveLabs.add(lab);
    return lab;
  }

  async build(timings: Record<string, number>): Promise<void> {
    const layout = this.layout;
    const base = this.base;
    let t = performance.now();
    const mark = (phase: string): void => {
      const now = performance.now();
      timings[phase] = Math.round(now - t);
      t = now;
    };
    // Hosts (namespace + daemons) and the underlay switch, all at once.
    const underlayNs = base.addNamespace('underlay').then(async (ns) => {
      await addLinuxBridge(ns, 'underlay');
      return ns;
    });
    const hosts = await Promise.all(this.hostLabels.map((label) => base.addHost(label)));
    for (const host of hosts) {
      this.ovsHosts.set(host.label as HostLabel, host);
      linkDefaultControlSockets(host);
    }
    layout.underlay.namespace = await underlayNs;
    mark('hosts');

    if (this.options.collector === undefined) {
      this.collector = await base.openCollector();
      layout.sflow.target = this.collector.target;
    } else {
      // ":6343" or "6343": that port on the lab's management address (the root side of mgmt0's network).
      const port = /^:?(\d+)$/.exec(this.options.collector)?.[1];
      layout.sflow.target = port === undefined ? this.options.collector : `${base.collectorAddress}:${port}`;
    }

    await Promise.all(hosts.map((host) => this.buildHost(host)));
    mark('bridges');
    const network = this.ovs('network1');
    await Promise.all([
      ...this.hostLabels.filter((l) => l !== 'network1').map((label, i) => this.addInstance(label, `vm${i + 1}`, TENANT.firstInstance + i)),
      this.addDhcp(network),
      this.addRouter(network),
    ]);
    mark('ports');
    await Promise.all(hosts.map((host) => this.programHost(host)));
    // Underlay ARP, as on a running cloud: OVS learns tunnel neighbours from the replies crossing
    // br-phy, so the first tenant frame is not spent on resolving the remote tunnel endpoint.
    await Promise.all([...layout.hosts.flatMap((h) => h.tunnels.map((t) => exec(h.netns, ['ping', '-c', '1', '-W', '2', t.remoteIp], { okCodes: [0, 1] }))), this.startDnsmasq()]);
    mark('flows+sflow+dnsmasq');
    layout.namespaces = [...base.namespaces];
    const links = await run(null, ['ip', '-o', 'link', 'show']);
    layout.rootLinks = [...links.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1] ?? '').filter((n) => n === base.linkPrefix || new RegExp(`^${base.linkPrefix}h\\d+$`).test(n));
    Object.assign(layout.timings, timings);
  }

  ovs(label: HostLabel): OvsHost {
    const host = this.ovsHosts.get(label);
    if (host === undefined) throw new Error(`no host ${label}`);
    return host;
  }

  async buildHost(host: OvsHost): Promise<void> {
    const label = host.label as HostLabel;
    const role: HostRole = label === 'network1' ? 'network' : 'compute';
    const localIp = UNDERLAY_ADDRESSES[label] ?? '';
    const localVlan = LOCAL_VLANS[label] ?? 1;
    const peers = this.hostLabels.filter((l) => l !== label);
    await addVeth({ netns: host.netns, name: 'eth1' }, { netns: this.layout.underlay.namespace, name: label, master: 'underlay' });
    const secure = ['datapath_type=netdev', 'fail_mode=secure', 'protocols=OpenFlow10,OpenFlow13'];
    const args = [
      '--', 'add-br', 'br-int', '--', 'set', 'Bridge', 'br-int', ...secure,
      '--', 'add-br', 'br-tun', '--', 'set', 'Bridge', 'br-tun', ...secure,
      '--', 'add-port', 'br-int', 'patch-tun', '--', 'set', 'Interface', 'patch-tun', 'type=patch', 'options:peer=patch-int', 'ofport_request=1',
      '--', 'add-port', 'br-tun', 'patch-int', '--', 'set', 'Interface', 'patch-int', 'type=patch', 'options:peer=patch-tun', 'ofport_request=1',
      '--', 'add-br', 'br-phy', '--', 'set', 'Bridge', 'br-phy', 'datapath_type=netdev',
      '--', 'add-port', 'br-phy', 'eth1',
    ];
    const tunnels: LabHostLayout['tunnels'] = [];
    const type = this.layout.network.networkType;
    peers.forEach((peer, i) => {
      const remoteIp = UNDERLAY_ADDRESSES[peer] ?? '';
      const port = tunnelPortName(type, remoteIp);
      tunnels.push({ port, remoteIp, remoteHost: peer, localIp, ofport: 2 + i });
      args.push('--', 'add-port', 'br-tun', port, '--', 'set', 'Interface', port, `type=${type}`,
        `options:remote_ip=${remoteIp}`, `options:local_ip=${localIp}`, 'options:in_key=flow', 'options:out_key=flow', 'options:df_default=true', `ofport_request=${2 + i}`);
    });
    if (role === 'network') args.push('--', 'add-br', 'br-ex', '--', 'set', 'Bridge', 'br-ex', 'datapath_type=netdev');
    await host.vsctl(args);
    await run(null, [...ipIn(host.netns), 'address', 'add', `${localIp}/${UNDERLAY.prefixLength}`, 'dev', 'br-phy']);
    await run(null, [...ipIn(host.netns), 'link', 'set', 'br-phy', 'up']);
    let bridgeNetfilter = false;
    if (role === 'compute') {
      const set = await exec(host.netns, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'], { okCodes: [0, 1, 255] });
      bridgeNetfilter = set.code === 0 && (await run(host.netns, ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).trim() === '1';
    }
    if (role === 'network') {
      // The physical NIC of br-ex and the upstream router beyond it.
      const ext = await this.base.addNamespace('ext');
      this.layout.external.namespace = ext;
      await addVeth({ netns: host.netns, name: 'eth2' }, { netns: ext, name: 'eth0', mac: this.layout.external.mac, addresses: [`${EXTERNAL.upstreamIp}/${EXTERNAL.prefixLength}`] });
      await disableTxOffload(ext, 'eth0');
      await host.vsctl(['add-port', 'br-ex', 'eth2']);
    }
    this.layout.hosts.push({
      label, role, netns: host.netns, dir: host.dir, mgmtAddress: host.mgmtAddress,
      underlay: { device: 'eth1', bridge: 'br-phy', address: localIp, prefixLength: UNDERLAY.prefixLength },
      localVlan, bridges: HOST_BRIDGES[role], ofports: {}, datapathIds: {}, tunnels, bridgeNetfilter,
    });
    this.layout.hosts.sort((a, b) => this.hostLabels.indexOf(a.label) - this.hostLabels.indexOf(b.label));
  }

  async addInstance(hostLabel: HostLabel, label: string, lastOctet: number): Promise<void> {
    const host = this.ovs(hostLabel);
    const layoutHost = findHost(this.layout, hostLabel);
    const portId = neutronUuid(this.owner);
    const vmUuid = neutronUuid(this.owner);
    const mac = neutronMac();
    const ip = `203.0.113.${lastOctet}`;
    const devices = { eth0: 'eth0', tap: deviceName('tap', portId), qbr: deviceName('qbr', portId), qvb: deviceName('qvb', portId), qvo: deviceName('qvo', portId) } as const;
    const mtu = this.layout.network.mtu;
    const instance = await this.base.addInstance(label, { host, port: devices.tap, address: `${ip}/${TENANT.prefixLength}`, mac, gateway: TENANT.gatewayIp, mtu });
    await addLinuxBridge(host.netns, devices.qbr);
    await addVeth({ netns: host.netns, name: devices.qvb, mtu, master: devices.qbr }, { netns: host.netns, name: devices.qvo, mtu });
    await run(null, [...ipIn(host.netns), 'link', 'set', devices.tap, 'master', devices.qbr]);
    const localVlan = layoutHost.localVlan;
    await host.vsctl([
      '--', '--may-exist', 'add-port', 'br-int', devices.qvo, `tag=${localVlan}`,
      '--', 'set', 'Interface', devices.qvo, `external_ids:iface-id=${portId}`, `external_ids:attached-mac="${mac}"`, 'external_ids:iface-status=active', `external_ids:vm-uuid=${vmUuid}`,
      '--', 'set', 'Port', devices.qvo, ...portOtherConfig(this.layout, localVlan),
    ]);
    const [tap, qvb, qvo, qbr] = await Promise.all([devices.tap, devices.qvb, devices.qvo, devices.qbr].map((d) => linkInfo(host.netns, d)));
    this.layout.instances.push({
      label, host: hostLabel, netns: instance.netns, portId, vmUuid, mac, ip, prefixLength: TENANT.prefixLength, gateway: TENANT.gatewayIp, mtu,
      devices, localVlan, ofport: -1,
      ifIndex: { tap: tap?.ifIndex ?? 0, qvb: qvb?.ifIndex ?? 0, qvo: qvo?.ifIndex ?? 0, qbr: qbr?.ifIndex ?? 0 },
      chains: firewallChains(portId),
    });
    this.layout.instances.sort((a, b) => a.label.localeCompare(b.label));
  }

  async addDhcp(host: OvsHost): Promise<void> {
    const dhcp = this.layout.dhcp;
    const localVlan = findHost(this.layout, 'network1').localVlan;
    await this.#namespace(dhcp.namespace);
    await addNamespacePort(host, 'br-int', dhcp.device, dhcp.namespace, {
      tag: localVlan, mac: dhcp.mac, addresses: [`${dhcp.ip}/${TENANT.prefixLength}`],
      externalIds: { 'iface-id': dhcp.portId, 'attached-mac': dhcp.mac, 'iface-status': 'active' },
    });
    await host.vsctl(['set', 'Port', dhcp.device, ...portOtherConfig(this.layout, localVlan)]);
    await disableTxOffload(dhcp.namespace, dhcp.device);
  }

  async addRouter(host: OvsHost): Promise<void> {
    const router = this.layout.router;
    const localVlan = findHost(this.layout, 'network1').localVlan;
    await this.#namespace(router.namespace);
    await addNamespacePort(host, 'br-int', router.qr.device, router.namespace, {
      tag: localVlan, mac: router.qr.mac, addresses: [`${router.qr.ip}/${TENANT.prefixLength}`],
      externalIds: { 'iface-id': router.qr.portId, 'attached-mac': router.qr.mac, 'iface-status': 'active' },
    });
    await host.vsctl(['set', 'Port', router.qr.device, ...portOtherConfig(this.layout, localVlan)]);
    await addNamespacePort(host, 'br-ex', router.qg.device, router.namespace, {
      mac: router.qg.mac, addresses: [`${router.qg.ip}/${EXTERNAL.prefixLength}`],
      externalIds: { 'iface-id': router.qg.portId, 'attached-mac': router.qg.mac, 'iface-status': 'active' },
    });
    await Promise.all([disableTxOffload(router.namespace, router.qr.device), disableTxOffload(router.namespace, router.qg.device)]);
    await run(router.namespace, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await run(null, [...ipIn(router.namespace), 'route', 'add', 'default', 'via', router.upstreamIp]);
    const rules = join(this.stateDir, `${router.namespace}.iptables`);
    writeFileSync(rules, routerNatRules(router.qg.device, router.qg.ip));
    await run(router.namespace, ['iptables-restore', rules]);
  }

  async #namespace(name: string): Promise<void> {
    await addNetns(name);
    this.base.namespaces.push(name);
  }

  /** Flows, firewall, sFlow: once every port exists (flows name OpenFlow port numbers). */
  async programHost(host: OvsHost): Promise<void> {
    const layoutHost = findHost(this.layout, host.label as HostLabel);
    const shows = await Promise.all(layoutHost.bridges.map(async (bridge) => [bridge, await ofctlShow(host, bridge)] as const));
    for (const [bridge, show] of shows) {
      layoutHost.ofports[bridge] = Object.fromEntries(show.ports.map((p) => [p.name, p.ofport]));
      layoutHost.datapathIds[bridge] = show.datapathId.toString(16).padStart(16, '0');
    }
    const intPorts = layoutHost.ofports['br-int'] ?? {};
    const tunPorts = layoutHost.ofports['br-tun'] ?? {};
    for (const tunnel of layoutHost.tunnels) tunnel.ofport = tunPorts[tunnel.port] ?? tunnel.ofport;
    const instances = this.layout.instances.filter((i) => i.host === layoutHost.label);
    for (const instance of instances) instance.ofport = intPorts[instance.devices.qvo] ?? -1;
    const flowsDir = join(this.stateDir, layoutHost.label);
    mkdirSync(flowsDir, { recursive: true });
    const intFile = join(flowsDir, 'br-int.flows');
    const tunFile = join(flowsDir, 'br-tun.flows');
    writeFileSync(intFile, `${brIntFlows(instances.map((i) => ({ ofport: i.ofport, mac: i.mac, ip: i.ip }))).join('\n')}\n`);
    writeFileSync(tunFile, `${brTunFlows({
      patchIntOfport: tunPorts['patch-int'] ?? 1,
      tunnels: layoutHost.tunnels.map((p) => ({ name: p.port, ofport: p.ofport })),
      networks: [{ localVlan: layoutHost.localVlan, segmentationId: SEGMENTATION_ID }],
      tunnelType: this.layout.network.networkType,
    }).join('\n')}\n`);
    await Promise.all([host.ofctl(['add-flows', 'br-int', intFile]), host.ofctl(['add-flows', 'br-tun', tunFile])]);
    if (instances.length > 0) {
      const rules = join(flowsDir, 'iptables');
      writeFileSync(rules, hybridFirewallRules(instances.map((i) => ({ portId: i.portId, tap: i.devices.tap, mac: i.mac, ip: i.ip })), TENANT.dhcpIp));
      await run(host.netns, ['iptables-restore', rules]);
    }
    await routeToCollector(host, this.layout);
    await setSflow(host, {
      target: this.layout.sflow.target,
      sampling: this.layout.sflow.sampling,
      polling: this.layout.sflow.polling,
      ...(this.layout.sflow.header === undefined ? {} : { header: this.layout.sflow.header }),
    });
  }

  async startDnsmasq(): Promise<void> {
    const dhcp = this.layout.dhcp;
    mkdirSync(dhcp.dir, { recursive: true });
    const hosts = this.layout.instances.map((i) => ({ mac: i.mac, ip: i.ip }));
    writeFileSync(join(dhcp.dir, 'host'), dnsmasqHosts(hosts));
    writeFileSync(join(dhcp.dir, 'addn_hosts'), hosts.map((h) => `${h.ip}\thost-${h.ip.replaceAll('.', '-')}.openstacklocal host-${h.ip.replaceAll('.', '-')}\n`).join(''));
    writeFileSync(join(dhcp.dir, 'opts'), dnsmasqOpts(`subnet-${this.layout.network.subnetId}`, TENANT.gatewayIp, TENANT.dhcpIp));
    writeFileSync(join(dhcp.dir, 'dnsmasq.conf'), '');
    // A kept lab's dnsmasq outlives the process like its OVS daemons do.
    const child = await spawnDnsmasq(this.layout, this.options.persistent !== undefined || this.options.keep === true);
    this.dnsmasq = child;
  }
}

/**
 * Plain `ovs-appctl CMD` (as sos and the agent run it) finds a daemon through OVS_RUNDIR/<name>.pid
 * and OVS_RUNDIR/<name>.<pid>.ctl; the lab's daemons use fixed --unixctl paths, so link those names.
 */
function linkDefaultControlSockets(host: OvsHost): void {
  for (const name of ['ovs-vswitchd', 'ovsdb-server']) {
    const pid = readFileSync(join(host.dir, `${name}.pid`), 'utf8').trim();
    const link = join(host.dir, `${name}.${pid}.ctl`);
    if (!existsSync(link)) symlinkSync(join(host.dir, `${name}.ctl`), link);
  }
}

function portOtherConfig(layout: NeutronLabLayout, localVlan: number): string[] {
  return [
    `other_config:net_uuid=${layout.network.id}`,
    `other_config:network_type=${layout.network.networkType}`,
    'other_config:physical_network=None',
    `other_config:segmentation_id=${layout.network.segmentationId}`,
    `other_config:tag=${localVlan}`,
  ];
}

/** The argv Neutron's DHCP agent runs dnsmasq with (plus --keep-in-foreground: the pid we spawn is dnsmasq's). */
export function dnsmasqArgv(layout: NeutronLabLayout): string[] {
  const d = layout.dhcp;
  return [
    'dnsmasq', '--no-hosts', '--no-resolv', '--keep-in-foreground', '--user=root', '--group=root',
    `--pid-file=${d.pidFile}`, `--dhcp-hostsfile=${join(d.dir, 'host')}`, `--addn-hosts=${join(d.dir, 'addn_hosts')}`,
    `--dhcp-optsfile=${join(d.dir, 'opts')}`, `--dhcp-leasefile=${join(d.dir, 'leases')}`, '--dhcp-match=set:ipxe,175',
    '--bind-interfaces', `--interface=${d.device}`,
    `--dhcp-range=set:subnet-${layout.network.subnetId},${TENANT.network},static,${netmaskOf(TENANT.prefixLength)},86400s`,
    `--dhcp-option-force=option:mtu,${layout.network.mtu}`, '--dhcp-lease-max=64', `--conf-file=${join(d.dir, 'dnsmasq.conf')}`,
    '--domain=openstacklocal', `--log-facility=${join(d.dir, 'dnsmasq.log')}`,
  ];
}

/** Starts dnsmasq in the qdhcp namespace and waits until it listens on port 67; records its pid in the layout. */
export async function spawnDnsmasq(layout: NeutronLabLayout, detached: boolean): Promise<ChildProcess> {
  const d = layout.dhcp;
  rmSync(d.pidFile, { force: true });
  const stderrFd = openSync(join(d.dir, 'dnsmasq.stderr'), 'a');
  const child = spawn('ip', ['netns', 'exec', d.namespace, ...dnsmasqArgv(layout)], { stdio: ['ignore', 'ignore', stderrFd], detached });
  closeSync(stderrFd);
  if (detached) child.unref();
  const pid = child.pid ?? -1;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exit ${code ?? signal ?? '?'}`;
    liveDnsmasq.delete(pid);
  });
  if (!detached) liveDnsmasq.set(pid, child);
  d.pid = pid;
  await waitFor(`dnsmasq in ${d.namespace} to listen on UDP 67`, () => {
    if (exited !== undefined) throw new Error(`dnsmasq ${exited}: ${readFileSync(join(d.dir, 'dnsmasq.stderr'), 'utf8').trim()}`);
    return listensOnUdp(pid, 67) ? true : undefined;
  }, { timeoutMs: 10_000, intervalMs: 50 }).catch((error: unknown) => {
    if (exited === undefined) killQuietly(pid);
    throw error;
  });
  return child;
}

/** Ends the lab's dnsmasq by the pid the lab recorded (only while /proc shows that dnsmasq on the lab's files). */
export async function stopDnsmasq(layout: NeutronLabLayout): Promise<void> {
  const pid = layout.dhcp.pid;
  if (pid <= 0 || !isOurs(pid, 'dnsmasq', layout.dhcp.dir)) return;
  killQuietly(pid, 'SIGTERM');
  await waitFor(`dnsmasq ${pid} to exit`, () => (isOurs(pid, 'dnsmasq', layout.dhcp.dir) ? undefined : true), { timeoutMs: 5_000, intervalMs: 50 }).catch(() => killQuietly(pid, 'SIGKILL'));
  layout.dhcp.pid = 0;
}

function listensOnUdp(pid: number, port: number): boolean {
  let table = '';
  try {
    table = readFileSync(`/proc/${pid}/net/udp`, 'utf8');
  } catch {
    return false;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return table.split('\n').some((line) => line.trim().split(/\s+/)[1]?.endsWith(`:${hexPort}`) === true);
}

/** True while `pid` runs `command` with `marker` in its command line (a pid is never trusted alone). */
export function isOurs(pid: number, command: string, marker: string): boolean {
  let cmdline: string[];
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  return (cmdline[0]?.endsWith(command) === true || cmdline.includes(command)) && cmdline.some((a) => a.includes(marker));
}

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if (!(error instanceof Error && 'code' in error && error.code === 'ESRCH')) throw error;
  }
}

/**
 * sFlow goes to the collector over mgmt0. A collector on another address of the root namespace
 * (not loopback: a namespace cannot reach the root's loopback) gets a host route via the root side.
 */
async function routeToCollector(host: OvsHost, layout: NeutronLabLayout): Promise<void> {
  const address = layout.sflow.target.slice(0, layout.sflow.target.lastIndexOf(':'));
  if (address === layout.mgmt.collectorAddress) return;
  if (address.startsWith('127.') || address === 'localhost') {
    throw new Error(`sFlow collector ${layout.sflow.target}: a lab host cannot reach the root namespace's loopback; listen on ${layout.mgmt.collectorAddress} or 0.0.0.0`);
  }
  await run(null, [...ipIn(host.netns), 'route', 'replace', `${address}/32`, 'via', layout.mgmt.collectorAddress]);
}

export function findHost(layout: NeutronLabLayout, label: HostLabel): LabHostLayout {
  const host = layout.hosts.find((h) => h.label === label);
  if (host === undefined) throw new Error(`lab ${layout.id}: no host ${label} (hosts: ${layout.hosts.map((h) => h.label).join(', ')})`);
  return host;
}

export function findInstance(layout: NeutronLabLayout, label: string): LabInstance {
  const instance = layout.instances.find((i) => i.label === label);
  if (instance === undefined) throw new Error(`lab ${layout.id}: no instance ${label} (instances: ${layout.instances.map((i) => i.label).join(', ')})`);
  return instance;
}

// ---------- cleanup of labs whose test process died ----------

const liveLabs = new Set<NeutronLab>();

function killLiveDnsmasq(): void {
  for (const [pid] of liveDnsmasq) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  liveDnsmasq.clear();
  for (const lab of liveLabs) if (!lab.persistent && !lab.base.keep) rmSync(lab.stateDir, { recursive: true, force: true });
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * dnsmasq is the only process this layer starts (ovs-lab.ts ends its own daemons and namespaces):
 * it is killed at exit and on SIGTERM/SIGINT while test labs live. Like ovs-lab's hook, the signal
 * is raised again once nobody else listens, so the process still ends by it.
 */
function onSignal(signal: NodeJS.Signals): void {
  killLiveDnsmasq();
  for (const s of SIGNALS) process.off(s, onSignal);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installExitHook(): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', killLiveDnsmasq);
  }
  for (const signal of SIGNALS) if (!process.listeners(signal).includes(onSignal)) process.on(signal, onSignal);
}

function releaseSignalHooks(): void {
  if (liveLabs.size > 0) return;
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return !(error instanceof Error && 'code' in error && error.code === 'ESRCH');
  }
}

/**
 * Ends what test labs of dead processes left: their dnsmasq (pidfile in this layer's dir, checked
 * against /proc), qdhcp-/qrouter- namespaces whose uuid carries the dead owner, and the dirs.
 */
export async function sweepStaleNeutronLabs(): Promise<void> {
  for (const entry of readdirSync(tmpdir())) {
    const owner = new RegExp(`^${STATE_DIR_PREFIX}(\\d+)-`).exec(entry)?.[1];
    if (owner === undefined || Number(owner) === process.pid || processAlive(Number(owner))) continue;
    const dir = join(tmpdir(), entry);
    const dhcpRoot = join(dir, 'dhcp');
    for (const net of existsSync(dhcpRoot) ? readdirSync(dhcpRoot) : []) {
      const pidFile = join(dhcpRoot, net, 'pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
      if (Number.isInteger(pid) && pid > 0 && isOurs(pid, 'dnsmasq', join(dhcpRoot, net))) killQuietly(pid);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  for (const name of await listNetns()) {
    const uuid = /^q(?:dhcp|router)-([0-9a-f-]{36})$/.exec(name)?.[1];
    const owner = uuid === undefined ? undefined : uuidOwner(uuid);
    if (owner === undefined || owner === process.pid || processAlive(owner)) continue;
    await exec(null, ['ip', 'netns', 'delete', name], { okCodes: [0, 1] });
  }
}
