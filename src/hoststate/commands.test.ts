import { describe, expect, it } from 'vitest';
import { COMMANDS, commandById, sosCommandFileName, sosPaths } from './commands.js';

// Command lines as sos 4.x plugins run them (sos/report/plugins/{openvswitch,networking,host,
// firewall_tables}.py) and the file sos writes for each, by sos' own `_mangle_command` rules.
const SOS_RUNS: { name: string; plugin: string; command: string; subdir?: string; file: string; id: string; params?: Record<string, string> }[] = [
  { name: 'vsctl show', plugin: 'openvswitch', command: 'ovs-vsctl -t 5 show', file: 'ovs-vsctl_-t_5_show', id: 'ovs-vsctl.show' },
  { name: 'vsctl list bridge', plugin: 'openvswitch', command: 'ovs-vsctl -t 5 list bridge', file: 'ovs-vsctl_-t_5_list_bridge', id: 'ovs-vsctl.list.Bridge' },
  { name: 'vsctl list interface', plugin: 'openvswitch', command: 'ovs-vsctl -t 5 list interface', file: 'ovs-vsctl_-t_5_list_interface', id: 'ovs-vsctl.list.Interface' },
  { name: 'vsctl list Open_vSwitch', plugin: 'openvswitch', command: 'ovs-vsctl -t 5 list Open_vSwitch', file: 'ovs-vsctl_-t_5_list_Open_vSwitch', id: 'ovs-vsctl.list.Open_vSwitch' },
  { name: 'vsctl list-br', plugin: 'openvswitch', command: 'ovs-vsctl -t 5 list-br', file: 'ovs-vsctl_-t_5_list-br', id: 'ovs-vsctl.list-br' },
  { name: 'ovsdb-client dump (sos 4.0)', plugin: 'openvswitch', command: 'ovsdb-client -f list dump', file: 'ovsdb-client_-f_list_dump', id: 'ovsdb-client.dump' },
  { name: 'dump-flows', plugin: 'openvswitch', command: 'ovs-ofctl dump-flows br-int', file: 'ovs-ofctl_dump-flows_br-int', id: 'ovs-ofctl.dump-flows', params: { bridge: 'br-int' } },
  { name: 'dump-flows OF13', plugin: 'openvswitch', command: 'ovs-ofctl -O OpenFlow13 dump-flows br-tun', file: 'ovs-ofctl_-O_OpenFlow13_dump-flows_br-tun', id: 'ovs-ofctl.dump-flows', params: { bridge: 'br-tun' } },
  { name: 'ofctl show', plugin: 'openvswitch', command: 'ovs-ofctl show br-ex', file: 'ovs-ofctl_show_br-ex', id: 'ovs-ofctl.show', params: { bridge: 'br-ex' } },
  { name: 'dump-ports-desc', plugin: 'openvswitch', command: 'ovs-ofctl dump-ports-desc br-int', file: 'ovs-ofctl_dump-ports-desc_br-int', id: 'ovs-ofctl.dump-ports-desc', params: { bridge: 'br-int' } },
  { name: 'fdb/show', plugin: 'openvswitch', command: 'ovs-appctl fdb/show br-int', file: 'ovs-appctl_fdb.show_br-int', id: 'ovs-appctl.fdb.show', params: { bridge: 'br-int' } },
  { name: 'dpctl/show', plugin: 'openvswitch', command: 'ovs-appctl dpctl/show -s netdev@ovs-netdev', file: 'ovs-appctl_dpctl.show_-s_netdev_ovs-netdev', id: 'ovs-appctl.dpctl.show' },
  { name: 'ip -d address', plugin: 'networking', command: 'ip -d address', file: 'ip_-d_address', id: 'ip.address' },
  { name: 'ip -o addr', plugin: 'networking', command: 'ip -o addr', file: 'ip_-o_addr', id: 'ip.o.addr' },
  { name: 'ip -s -d link', plugin: 'networking', command: 'ip -s -d link', file: 'ip_-s_-d_link', id: 'ip.link' },
  { name: 'routes', plugin: 'networking', command: 'ip route show table all', file: 'ip_route_show_table_all', id: 'ip.route' },
  { name: 'neighbours', plugin: 'networking', command: 'ip -s -s neigh show', file: 'ip_-s_-s_neigh_show', id: 'ip.neigh' },
  { name: 'ip netns', plugin: 'networking', command: 'ip netns', file: 'ip_netns', id: 'ip.netns' },
  { name: 'bridge link', plugin: 'networking', command: 'bridge -s -s -d link show', file: 'bridge_-s_-s_-d_link_show', id: 'bridge.link' },
  { name: 'bridge fdb', plugin: 'networking', command: 'bridge -s -s -d -t fdb show', file: 'bridge_-s_-s_-d_-t_fdb_show', id: 'bridge.fdb' },
  { name: 'ethtool -S', plugin: 'networking', command: 'ethtool -S qvo1234', file: 'ethtool_-S_qvo1234', id: 'ethtool.S', params: { device: 'qvo1234' } },
  // `ns_cmd_prefix` ends with a space and the f-string adds one: two spaces, one `_`.
  { name: 'netns addresses', plugin: 'networking', subdir: 'namespaces/qrouter-9f0c', command: 'ip netns exec qrouter-9f0c  ip -d address show', file: 'ip_netns_exec_qrouter-9f0c_ip_-d_address_show', id: 'netns.ip.address', params: { namespace: 'qrouter-9f0c' } },
  { name: 'netns routes', plugin: 'networking', subdir: 'namespaces/qdhcp-1', command: 'ip netns exec qdhcp-1  ip route show table all', file: 'ip_netns_exec_qdhcp-1_ip_route_show_table_all', id: 'netns.ip.route', params: { namespace: 'qdhcp-1' } },
  { name: 'netns neighbours', plugin: 'networking', subdir: 'namespaces/qdhcp-1', command: 'ip netns exec qdhcp-1  ip -s -s neigh show', file: 'ip_netns_exec_qdhcp-1_ip_-s_-s_neigh_show', id: 'netns.ip.neigh', params: { namespace: 'qdhcp-1' } },
  { name: 'netns iptables', plugin: 'networking', subdir: 'namespaces/qrouter-9f0c', command: 'ip netns exec qrouter-9f0c iptables-save', file: 'ip_netns_exec_qrouter-9f0c_iptables-save', id: 'netns.iptables-save', params: { namespace: 'qrouter-9f0c' } },
  { name: 'netns address (sos 4.0)', plugin: 'networking', command: 'ip netns exec qrouter-9f0c ip address show', file: 'ip_netns_exec_qrouter-9f0c_ip_address_show', id: 'netns.ip.address', params: { namespace: 'qrouter-9f0c' } },
  { name: 'iptables -vnxL', plugin: 'firewall_tables', command: 'iptables -vnxL', file: 'iptables_-vnxL', id: 'iptables.list' },
  { name: 'iptables nat', plugin: 'firewall_tables', command: 'iptables -t nat -nvL', file: 'iptables_-t_nat_-nvL', id: 'iptables.nat' },
  { name: 'nft', plugin: 'firewall_tables', command: 'nft -a list ruleset', file: 'nft_-a_list_ruleset', id: 'nft.ruleset' },
  { name: 'hostname', plugin: 'host', command: 'hostname', file: 'hostname', id: 'hostname' },
];

describe('sos file names', () => {
  it.each(SOS_RUNS)('$name', ({ plugin, command, subdir, file, id, params }) => {
    expect(sosCommandFileName(command)).toBe(file);
    const spec = commandById(id);
    expect(spec).toBeDefined();
    const path = `sos_commands/${plugin}/${subdir === undefined ? '' : `${subdir}/`}${file}`;
    expect(sosPaths(spec!, params)).toContain(path);
  });

  it.each([
    { name: 'drops /usr/sbin/', command: '/usr/sbin/ip -o addr', file: 'ip_-o_addr' },
    { name: 'slashes become dots', command: 'ovs-appctl dpif/show', file: 'ovs-appctl_dpif.show' },
    { name: 'strips trailing punctuation', command: 'ls -la /run/openvswitch/', file: 'ls_-la_.run.openvswitch' },
    { name: 'quotes and equals become _', command: "ovs-vsctl get Interface 'a b' options=x", file: 'ovs-vsctl_get_Interface_a_b_options_x' },
    { name: 'caps the length', command: `echo ${'x'.repeat(300)}`, file: `echo_${'x'.repeat(250)}` },
  ])('mangles: $name', ({ command, file }) => {
    expect(sosCommandFileName(command)).toBe(file);
  });

  it('keeps ids unique and every per-object path parameterised', () => {
    expect(new Set(COMMANDS.map((c) => c.id)).size).toBe(COMMANDS.length);
    for (const spec of COMMANDS) {
      const key = spec.scope === 'host' ? undefined : spec.scope;
      for (const path of spec.sos) {
        if (key !== undefined) expect(path.includes(`{${key}}`), `${spec.id}: ${path}`).toBe(true);
        expect(path.startsWith('/') || path.split('/').includes('..'), path).toBe(false);
      }
    }
  });

  it('leaves out a path whose parameter is not given', () => {
    expect(sosPaths(commandById('ethtool.S')!, { device: 'eth0' })).toEqual(['sos_commands/networking/ethtool_-S_eth0']);
  });
});
