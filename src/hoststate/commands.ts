// The fixed catalog of commands a host snapshot holds. The agent runs `argv` (execFile, never a
// shell); `hoptrace import` finds the same output in a sosreport under `sos` (sos 4.x names a
// command's file by its command line with spaces as `_` and `/` as `.`). Parsers dispatch on `id`
// and on the form of the text (the agent asks for JSON where the tool has it; sos keeps text), and
// give the same result for both forms.
//
// sos file names (sos 4.x, sos/report/plugins/__init__.py `_mangle_command` and
// `_make_command_filename`): a leading /usr/bin/, /bin/, /sbin/ is dropped, every run of characters
// other than word characters, `-`, `.` and `/` becomes `_`, `/` becomes `.`, and leading/trailing
// ` ._-` are stripped; the file goes to sos_commands/<plugin>/ (per-namespace commands of the
// networking plugin, since sos 4.1, to sos_commands/networking/namespaces/<ns>/). A name already
// taken gets `.1`, `.2`... What the plugins run (read in sos 4.0 to 4.10 and main of 2026-08):
//   openvswitch: `ovs-vsctl -t 5 show`, `ovs-vsctl -t 5 list Open_vSwitch|bridge|interface` (no
//     Port, no sFlow table), `ovs-vsctl -t 5 list-br`; per bridge `ovs-ofctl show|dump-flows|
//     dump-ports-desc BR`, `ovs-ofctl -O OpenFlow1x ...` for the bridge's protocols, `ovs-appctl
//     fdb/show BR`; `ovs-appctl dpctl/show -s DP` per datapath; sos 4.0 also `ovsdb-client -f list dump`.
//   networking: `ip -d address`, `ip -o addr`, `ip -s -d link`, `ip route show table all`,
//     `ip -s -s neigh show`, `ip netns`, `bridge -s -s -d link show`, `bridge -s -s -d -t fdb show`,
//     `ethtool -S DEV`; per namespace `ip netns exec NS  ip -d address show`, `... ip route show
//     table all`, `... ip -s -s neigh show`, `... iptables-save` (sos 4.0: `ip address show`).
//   firewall_tables: no iptables-save on the host, but `iptables -vnxL`, `iptables -t TABLE -nvL`,
//     `nft -a list ruleset` (sos 4.0 ran the iptables ones from the networking plugin).
//   host: `hostname` (also linked as /hostname at the root).

export type CommandScope = 'host' | 'bridge' | 'namespace' | 'device';

export interface CommandParams {
  bridge?: string;
  namespace?: string;
  device?: string;
}

export interface CommandSpec {
  id: string;
  scope: CommandScope;
  /** What the agent runs. */
  argv: (p: Required<CommandParams>) => string[];
  /**
   * Paths relative to the sosreport root where sos 4.x stores this output, best first. `{bridge}`,
   * `{namespace}`, `{device}` stand for the parameter.
   */
  sos: string[];
  /** True when only an import reads it (the agent collects the same facts another way). */
  importOnly?: boolean;
  /** What it is for, one line (printed by `hoptrace agent --list-commands`). */
  purpose: string;
}

const vsctlList = (table: string): string[] => ['ovs-vsctl', '-t', '5', '--format=json', '--data=json', 'list', table];

export const COMMANDS: readonly CommandSpec[] = [
  { id: 'hostname', scope: 'host', argv: () => ['hostname'], sos: ['hostname', 'sos_commands/host/hostname', 'sos_commands/general/hostname'], purpose: 'host name' },
  { id: 'ovs-vsctl.list-br', scope: 'host', argv: () => ['ovs-vsctl', '-t', '5', 'list-br'], sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list-br'], purpose: 'bridge names (the per-bridge commands run for each)' },
  { id: 'ovs-vsctl.show', scope: 'host', argv: () => ['ovs-vsctl', '-t', '5', 'show'], sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_show'], purpose: 'bridges, ports, interfaces, options at a glance' },
  { id: 'ovs-vsctl.list.Open_vSwitch', scope: 'host', argv: () => vsctlList('Open_vSwitch'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch'], purpose: 'system-id, hostname, OVS version' },
  { id: 'ovs-vsctl.list.Bridge', scope: 'host', argv: () => vsctlList('Bridge'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_bridge', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_Bridge'], purpose: 'bridges: datapath id, ports, sflow, protocols' },
  { id: 'ovs-vsctl.list.Port', scope: 'host', argv: () => vsctlList('Port'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_port', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_Port'], purpose: 'ports: tag, trunks, other_config (net_uuid, segmentation_id)' },
  { id: 'ovs-vsctl.list.Interface', scope: 'host', argv: () => vsctlList('Interface'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_interface', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_Interface'], purpose: 'interfaces: ofport, ifindex, type, options, external_ids, error' },
  { id: 'ovs-vsctl.list.sFlow', scope: 'host', argv: () => vsctlList('sFlow'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_sflow', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_sFlow'], purpose: 'sFlow agent, targets, sampling (agent address -> host)' },
  { id: 'ovsdb-client.dump', scope: 'host', argv: () => ['ovsdb-client', '-f', 'json', 'dump'], sos: ['sos_commands/openvswitch/ovsdb-client_-f_list_dump'], importOnly: true, purpose: 'the whole OVSDB' },
  { id: 'ovs-appctl.dpif.show', scope: 'host', argv: () => ['ovs-appctl', 'dpif/show'], sos: ['sos_commands/openvswitch/ovs-appctl_dpif.show'], purpose: 'datapath ports and their numbers' },
  { id: 'ovs-appctl.dpctl.show', scope: 'host', argv: () => ['ovs-appctl', 'dpctl/show', '-s'], sos: ['sos_commands/openvswitch/ovs-appctl_dpctl.show_-s_system_ovs-system', 'sos_commands/openvswitch/ovs-appctl_dpctl.show_-s_netdev_ovs-netdev'], purpose: 'datapaths, their ports and counters (what sos has instead of dpif/show)' },
  { id: 'ip.address', scope: 'host', argv: () => ['ip', '-j', '-d', 'address', 'show'], sos: ['sos_commands/networking/ip_-d_address', 'sos_commands/networking/ip_-d_address_show'], purpose: 'devices, kinds (veth, bridge, tun), addresses, link-netnsid' },
  { id: 'ip.o.addr', scope: 'host', argv: () => ['ip', '-o', 'addr'], sos: ['sos_commands/networking/ip_-o_addr'], importOnly: true, purpose: 'addresses, one line each' },
  { id: 'ip.link', scope: 'host', argv: () => ['ip', '-j', '-s', '-d', 'link', 'show'], sos: ['sos_commands/networking/ip_-s_-d_link', 'sos_commands/networking/ip_-s_-d_link_show'], purpose: 'devices with counters, masters, veth peers' },
  { id: 'ip.route', scope: 'host', argv: () => ['ip', '-j', 'route', 'show', 'table', 'all'], sos: ['sos_commands/networking/ip_route_show_table_all'], purpose: 'routes of the root namespace' },
  { id: 'ip.neigh', scope: 'host', argv: () => ['ip', '-j', 'neigh', 'show'], sos: ['sos_commands/networking/ip_-s_-s_neigh_show', 'sos_commands/networking/ip_neigh_show', 'sos_commands/networking/ip_-s_neigh_show'], purpose: 'ARP/ND cache' },
  { id: 'ip.netns', scope: 'host', argv: () => ['ip', 'netns', 'list'], sos: ['sos_commands/networking/ip_netns', 'sos_commands/networking/ip_netns_list'], purpose: 'network namespaces' },
  { id: 'bridge.link', scope: 'host', argv: () => ['bridge', '-j', '-s', '-s', '-d', 'link', 'show'], sos: ['sos_commands/networking/bridge_-s_-s_-d_link_show'], purpose: 'Linux bridge ports and their state' },
  { id: 'bridge.fdb', scope: 'host', argv: () => ['bridge', '-j', 'fdb', 'show'], sos: ['sos_commands/networking/bridge_-s_-s_-d_-t_fdb_show', 'sos_commands/networking/bridge_-s_-s_-d_fdb_show', 'sos_commands/networking/bridge_fdb_show'], purpose: 'Linux bridge forwarding database (qbr)' },
  { id: 'brctl.show', scope: 'host', argv: () => ['brctl', 'show'], sos: ['sos_commands/networking/brctl_show'], importOnly: true, purpose: 'Linux bridges and members' },
  { id: 'iptables-save', scope: 'host', argv: () => ['iptables-save', '-c'], sos: ['sos_commands/firewall_tables/iptables-save_-c', 'sos_commands/firewall_tables/iptables-save', 'sos_commands/networking/iptables-save'], purpose: 'iptables rules with counters (neutron-openvswi chains)' },
  { id: 'iptables.list', scope: 'host', argv: () => ['iptables', '-vnxL'], sos: ['sos_commands/firewall_tables/iptables_-vnxL', 'sos_commands/networking/iptables_-vnxL'], importOnly: true, purpose: 'filter table with exact counters (what sos has instead of iptables-save)' },
  { id: 'iptables.nat', scope: 'host', argv: () => ['iptables', '-t', 'nat', '-nvL'], sos: ['sos_commands/firewall_tables/iptables_-t_nat_-nvL', 'sos_commands/networking/iptables_-t_nat_-nvL'], importOnly: true, purpose: 'nat table listing' },
  { id: 'nft.ruleset', scope: 'host', argv: () => ['nft', '-a', 'list', 'ruleset'], sos: ['sos_commands/firewall_tables/nft_-a_list_ruleset', 'sos_commands/firewall_tables/nft_list_ruleset', 'sos_commands/networking/nft_list_ruleset'], importOnly: true, purpose: 'nftables ruleset (iptables-nft hosts keep the Neutron chains here)' },
  { id: 'ovs-ofctl.show', scope: 'bridge', argv: (p) => ['ovs-ofctl', 'show', p.bridge], sos: ['sos_commands/openvswitch/ovs-ofctl_show_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow13_show_{bridge}'], purpose: 'OpenFlow ports of a bridge' },
  { id: 'ovs-ofctl.dump-ports-desc', scope: 'bridge', argv: (p) => ['ovs-ofctl', 'dump-ports-desc', p.bridge], sos: ['sos_commands/openvswitch/ovs-ofctl_dump-ports-desc_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow13_dump-ports-desc_{bridge}'], purpose: 'OpenFlow port descriptions' },
  { id: 'ovs-ofctl.dump-flows', scope: 'bridge', argv: (p) => ['ovs-ofctl', 'dump-flows', p.bridge], sos: ['sos_commands/openvswitch/ovs-ofctl_dump-flows_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow13_dump-flows_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow14_dump-flows_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow15_dump-flows_{bridge}'], purpose: 'flow tables with counters' },
  { id: 'ovs-appctl.fdb.show', scope: 'bridge', argv: (p) => ['ovs-appctl', 'fdb/show', p.bridge], sos: ['sos_commands/openvswitch/ovs-appctl_fdb.show_{bridge}'], purpose: 'MAC learning table of a bridge (NORMAL)' },
  { id: 'netns.ip.address', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'ip', '-j', '-d', 'address', 'show'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ip_-d_address_show', 'sos_commands/networking/ip_netns_exec_{namespace}_ip_-d_address_show', 'sos_commands/networking/ip_netns_exec_{namespace}_ip_address_show'], purpose: 'addresses inside a namespace (qdhcp, qrouter)' },
  { id: 'netns.ip.route', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'ip', '-j', 'route', 'show', 'table', 'all'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ip_route_show_table_all', 'sos_commands/networking/ip_netns_exec_{namespace}_ip_route_show_table_all'], purpose: 'routes inside a namespace' },
  { id: 'netns.ip.neigh', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'ip', '-j', 'neigh', 'show'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ip_-s_-s_neigh_show', 'sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ip_neigh_show', 'sos_commands/networking/ip_netns_exec_{namespace}_ip_neigh_show'], purpose: 'ARP cache inside a namespace' },
  { id: 'netns.iptables-save', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'iptables-save', '-c'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_iptables-save_-c', 'sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_iptables-save', 'sos_commands/networking/ip_netns_exec_{namespace}_iptables-save'], purpose: 'NAT and filter rules inside a namespace (qrouter SNAT/DNAT)' },
  { id: 'ethtool.S', scope: 'device', argv: (p) => ['ethtool', '-S', p.device], sos: ['sos_commands/networking/ethtool_-S_{device}', 'sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ethtool_-S_{device}'], purpose: 'veth peer_ifindex (device in the root namespace, or in `namespace` from an import)' },
];

export function commandById(id: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.id === id);
}

/** sos caps a file name at the archive's name_max (255 on the usual file systems). */
export const SOS_NAME_MAX = 255;

/** The file name sos gives a command's output (sos/report/plugins/__init__.py `_mangle_command`). */
export function sosCommandFileName(commandLine: string, nameMax = SOS_NAME_MAX): string {
  let name = commandLine.replace(/^\/(usr\/|)(bin|sbin)\//, '');
  // Python's \w on str is Unicode-aware: letters, digits (any script) and `_`.
  name = name.replace(/[^\p{L}\p{N}_\-./]+/gu, '_');
  name = name.replace(/\//g, '.');
  name = name.replace(/^[ ._-]+|[ ._-]+$/g, '');
  return name.slice(0, nameMax);
}

/** A spec's sos paths with the parameters filled in; a path that needs a parameter not given is left out. */
export function sosPaths(spec: CommandSpec, params: CommandParams = {}): string[] {
  const out: string[] = [];
  for (const template of spec.sos) {
    let missing = false;
    const path = template.replace(/\{(bridge|namespace|device)\}/g, (_match, key: keyof CommandParams) => {
      const value = params[key];
      if (value === undefined) missing = true;
      return value ?? '';
    });
    if (!missing) out.push(path);
  }
  return out;
}

/** The parameters a spec's scope needs, in the order they appear (for messages and file names). */
export function paramsOf(output: CommandParams): string[] {
  return [output.bridge, output.namespace, output.device].filter((v): v is string => v !== undefined);
}
