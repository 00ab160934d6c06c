// `ovs-vsctl list` in the agent's JSON form and sos' text form, captured from the same database
// (test/fixtures/ovsdb/neutron-compute1, capture.ts): same rows, same model.
import { describe, expect, it } from 'vitest';
import { agentList, captureInfo, LIST_TABLES, sosList } from '../../../test/fixtures/ovsdb/load.js';
import type { OvsdbTables } from './rows.js';
import { buildOvsdbState } from './state.js';
import { parseVsctlList, vsctlListForm } from './vsctl-list.js';

function tablesOf(read: (agentName: string, sosName: string) => string): OvsdbTables {
  const tables: OvsdbTables = new Map();
  for (const [name, sosName] of LIST_TABLES) {
    const parsed = parseVsctlList(read(name, sosName), sosName);
    expect(parsed.issues).toEqual([]);
    tables.set(name, parsed.value);
  }
  return tables;
}

describe('parseVsctlList on real output', () => {
  const agent = tablesOf((name) => agentList(name));
  const sos = tablesOf((_name, sosName) => sosList(sosName));

  it('tells the forms apart', () => {
    expect(vsctlListForm(agentList('Bridge'))).toBe('json');
    expect(vsctlListForm(sosList('bridge'))).toBe('text');
  });

  it.each(LIST_TABLES)('%s: the JSON and the text form give the same rows', (name) => {
    expect(agent.get(name)?.size).toBeGreaterThan(0);
    expect(sos.get(name)).toEqual(agent.get(name));
  });

  it('both forms give deep-equal models', () => {
    const fromAgent = buildOvsdbState(agent);
    const fromSos = buildOvsdbState(sos);
    expect(fromAgent.issues).toEqual([]);
    expect(fromSos.issues).toEqual([]);
    expect(fromSos.value).toEqual(fromAgent.value);
  });
});

describe('a text list cut or damaged', () => {
  const text = sosList('interface');
  const lines = text.split('\n');

  it('cut at every line: never throws, keeps every whole record before the cut', () => {
    const whole = parseVsctlList(text, 'list_interface').value;
    for (let n = 0; n <= lines.length; n++) {
      const cut = parseVsctlList(lines.slice(0, n).join('\n'), 'list_interface');
      expect(cut.issues).toEqual([]);
      for (const [uuid, columns] of cut.value) {
        const full = whole.get(uuid);
        for (const [column, datum] of columns) expect(full?.get(column)).toEqual(datum);
      }
    }
  });

  it('cut inside a value: that line is reported with its number, the rest is kept', () => {
    const at = lines.findIndex((l) => l.startsWith('external_ids') && l.includes('iface-id'));
    const damaged = [...lines.slice(0, at), lines[at]?.slice(0, 40) ?? '', ...lines.slice(at + 1)].join('\n');
    const parsed = parseVsctlList(damaged, 'list_interface');
    expect(parsed.issues).toEqual([expect.objectContaining({ source: 'list_interface', line: at + 1, message: expect.stringContaining('external_ids') })]);
    expect(parsed.value.size).toBe(parseVsctlList(text, 'list_interface').value.size);
  });

  it('a record without _uuid and a line without a colon are reported', () => {
    const parsed = parseVsctlList('name : tap1\nofport : 3\n\n_uuid : 5f1a3c1e-7d0b-4c8e-9a51-0f7e2b8c1d01\nname : tap2\ngarbage line\n', 'x');
    expect(parsed.issues.map((i) => [i.line, i.message])).toEqual([
      [1, 'record without _uuid: left out'],
      [6, 'expected "column : value"'],
    ]);
    expect([...parsed.value.keys()]).toEqual(['5f1a3c1e-7d0b-4c8e-9a51-0f7e2b8c1d01']);
  });
});

describe('a JSON list cut or damaged', () => {
  const json = agentList('Interface');

  it('cut anywhere: an issue and no rows, never an exception', () => {
    for (let n = 1; n < json.length - 1; n += 97) {
      const parsed = parseVsctlList(json.slice(0, n), 'list Interface');
      expect(parsed.value.size).toBe(0);
      expect(parsed.issues).toHaveLength(1);
      expect(parsed.issues[0]?.line).toBe(1);
    }
  });

  it('a row of the wrong length or with a bad value is reported, the others kept', () => {
    const table = JSON.parse(json) as { headings: string[]; data: unknown[][] };
    const rows = table.data.length;
    table.data[0] = table.data[0]?.slice(1) ?? [];
    const nameAt = table.headings.indexOf('name');
    const second = table.data[1];
    if (second !== undefined) second[nameAt] = { not: 'a datum' };
    const parsed = parseVsctlList(JSON.stringify(table), 'list Interface');
    expect(parsed.issues.map((i) => i.message)).toEqual([
      `row 0: expected ${table.headings.length} values`,
      expect.stringMatching(/^row 1: not an OVSDB atom/),
    ]);
    expect(parsed.value.size).toBe(rows - 2);
  });

  it.each([
    { name: 'no headings', text: '{"data":[]}' },
    { name: 'no _uuid column', text: '{"data":[["x"]],"headings":["name"]}' },
    { name: 'headings not a list', text: '{"headings":5,"data":[]}' },
  ])('$name: one issue', ({ text }) => {
    const parsed = parseVsctlList(text, 'x');
    expect(parsed.issues).toHaveLength(1);
    expect(parsed.value.size).toBe(0);
  });
});

describe('the model of the Neutron-like host', () => {
  const info = captureInfo();
  const state = buildOvsdbState(tablesOf((name) => agentList(name))).value;
  const port = (name: string) => state.ports.find((p) => p.name === name);
  const iface = (name: string) => state.interfaces.find((i) => i.name === name);

  it('keeps the host identity and version', () => {
    expect(state).toMatchObject({ systemId: info.systemId, hostname: info.host, ovsVersion: '3.1.0', tables: ['Open_vSwitch', 'Bridge', 'Port', 'Interface', 'sFlow'] });
    expect(state.dbVersion).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('resolves bridges to port names, with datapath, fail mode, protocols and sFlow', () => {
    expect(state.bridges.map((b) => [b.name, b.ports])).toEqual([
      ['br-ex', ['br-ex', 'phy-br-ex', 'trunk0']],
      ['br-int', ['br-int', 'int-br-ex', 'missing0', 'patch-tun', 'tap1', 'tap2']],
      ['br-tun', ['br-tun', info.neutron.greName, 'patch-int', info.neutron.vxlanName]],
    ]);
    const brInt = state.bridges[1];
    expect(brInt).toMatchObject({ datapathType: 'netdev', failMode: 'secure', protocols: ['OpenFlow10', 'OpenFlow13'], sflow: info.sflowUuid, externalIds: { 'bridge-id': 'br-int' } });
    expect(brInt?.datapathId).toMatch(/^[0-9a-f]{16}$/);
    expect(state.bridges[0]?.sflow).toBeNull();
  });

  it('keeps the Neutron binding of a tagged port and its interface', () => {
    const { vm1 } = info.neutron;
    expect(port('tap1')).toMatchObject({
      bridge: 'br-int',
      tag: vm1.tag,
      interfaces: ['tap1'],
      neutron: { netUuid: vm1.netUuid, networkType: 'vxlan', physicalNetwork: null, segmentationId: vm1.segmentationId, localVlan: vm1.tag },
    });
    expect(port('tap2')?.neutron).toMatchObject({ networkType: 'vlan', physicalNetwork: 'physnet1', segmentationId: 100 });
    const tap1 = iface('tap1');
    expect(tap1).toMatchObject({ port: 'tap1', bridge: 'br-int', type: '', adminState: 'up', error: null });
    expect(tap1?.neutron).toEqual({ portId: vm1.portId, attachedMac: vm1.mac, vmUuid: vm1.vmUuid, status: 'active' });
    expect(tap1?.externalIds['hoptrace-note']).toBe(info.neutron.awkward);
    expect(tap1?.ofport).toBeGreaterThan(0);
    expect(tap1?.ifindex).toBeGreaterThan(0);
    expect(tap1?.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  it('keeps tunnel and patch options, trunks, and the error of a missing device', () => {
    expect(iface(info.neutron.greName)).toMatchObject({
      type: 'gre',
      bridge: 'br-tun',
      options: { remote_ip: info.neutron.greRemote, local_ip: info.neutron.localIp, key: 'flow', in_key: 'flow', out_key: 'flow', df_default: 'true' },
    });
    expect(iface(info.neutron.vxlanName)?.options).toMatchObject({ dst_port: '4789', remote_ip: info.neutron.vxlanRemote });
    expect(iface('patch-tun')).toMatchObject({ type: 'patch', options: { peer: 'patch-int' } });
    expect(port('trunk0')).toMatchObject({ trunks: [100, 101], vlanMode: 'trunk', tag: null });
    expect(iface('missing0')).toMatchObject({ ofport: -1, error: 'could not open network device missing0 (No such device)' });
  });

  it('keeps the sFlow row and the bridges using it', () => {
    expect(state.sflows).toEqual([{
      uuid: info.sflowUuid,
      agent: 'mgmt0',
      targets: [info.sflowTarget],
      sampling: 64,
      polling: 10,
      header: 128,
      bridges: ['br-int', 'br-tun'],
      externalIds: { purpose: 'hoptrace' },
    }]);
  });
});
