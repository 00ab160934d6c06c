import { describe, expect, it } from 'vitest';
import { agentList, fixture, LIST_TABLES, sosList } from '../../../test/fixtures/ovsdb/load.js';
import type { CommandOutput } from '../snapshot.js';
import { buildOvsdbStateFromOutputs } from './from-outputs.js';
import type { OvsdbState } from './state.js';

function output(id: string, stdout: string, origin: string, argv: string[] = []): CommandOutput {
  return { id, argv, origin, stdout, stderr: '', exitCode: 0 };
}
const SOS = 'sos_commands/openvswitch';
const agentOutputs = LIST_TABLES.map(([name]) =>
  output(`ovs-vsctl.list.${name}`, agentList(name), 'agent', ['ovs-vsctl', '-t', '5', '--format=json', '--data=json', 'list', name]),
);
/** What a sos 4.x report has: lists of Open_vSwitch, bridge, interface, and show. */
const sosOutputs = [
  output('ovs-vsctl.list.Open_vSwitch', sosList('Open_vSwitch'), `${SOS}/ovs-vsctl_-t_5_list_Open_vSwitch`),
  output('ovs-vsctl.list.Bridge', sosList('bridge'), `${SOS}/ovs-vsctl_-t_5_list_bridge`),
  output('ovs-vsctl.list.Interface', sosList('interface'), `${SOS}/ovs-vsctl_-t_5_list_interface`),
  output('ovs-vsctl.show', fixture('ovs-vsctl_-t_5_show'), `${SOS}/ovs-vsctl_-t_5_show`),
];
const agent = buildOvsdbStateFromOutputs(agentOutputs);

/** What every source can tell: the topology without Port-table-only columns. */
function topology(state: OvsdbState) {
  return {
    ...state,
    tables: [],
    sflows: [],
    ports: state.ports.map((p) => ({ name: p.name, bridge: p.bridge, tag: p.tag, trunks: p.trunks, interfaces: p.interfaces })),
  };
}

describe('buildOvsdbStateFromOutputs', () => {
  it('the agent outputs give the model, without issues', () => {
    expect(agent.issues).toEqual([]);
    expect(agent.value.tables).toEqual(['Open_vSwitch', 'Bridge', 'Port', 'Interface', 'sFlow']);
    expect(agent.value.ports.length).toBeGreaterThan(10);
  });

  it('a sos report (no Port or sFlow list) gives the same topology, ports from show', () => {
    const sos = buildOvsdbStateFromOutputs(sosOutputs);
    expect(sos.issues).toEqual([]);
    expect(sos.value.tables).toEqual(['Open_vSwitch', 'Bridge', 'Interface']);
    expect(topology(sos.value)).toEqual(topology(agent.value));
  });

  it('a sos 4.0 report with `ovsdb-client -f list dump` gives the whole model', () => {
    const sos = buildOvsdbStateFromOutputs([...sosOutputs, output('ovsdb-client.dump', fixture('ovsdb-client_-f_list_dump'), `${SOS}/ovsdb-client_-f_list_dump`)]);
    expect(sos.issues).toEqual([]);
    expect(sos.value).toEqual(agent.value);
  });

  it('an output that failed is reported by its source and not read; a JSON list that is cut is unknown, not empty', () => {
    const failed = { ...output('ovs-vsctl.list.Port', '', 'agent', ['ovs-vsctl', 'list', 'Port']), exitCode: 1, stderr: 'ovs-vsctl: unix:/run/openvswitch/db.sock: database connection failed' };
    const cut = output('ovs-vsctl.list.sFlow', agentList('sFlow').slice(0, 30), 'agent', ['ovs-vsctl', 'list', 'sFlow']);
    const others = agentOutputs.filter((o) => o.id !== 'ovs-vsctl.list.Port' && o.id !== 'ovs-vsctl.list.sFlow');
    const parsed = buildOvsdbStateFromOutputs([...others, failed, cut]);
    expect(parsed.issues).toEqual([
      expect.objectContaining({ source: 'ovs-vsctl.list.Port (ovs-vsctl list Port)', line: 0, message: expect.stringContaining('database connection failed') }),
      expect.objectContaining({ source: 'ovs-vsctl.list.sFlow (ovs-vsctl list sFlow)', line: 1 }),
    ]);
    expect(parsed.value.tables).toEqual(['Open_vSwitch', 'Bridge', 'Interface']);
    expect(parsed.value.bridges).toEqual(agent.value.bridges.map((b) => ({ ...b, ports: [] })));
  });
});
