import { describe, expect, it } from 'vitest';
import { parseTextDatum } from './datum.js';
import type { OvsdbColumns, OvsdbTables } from './rows.js';
import { buildOvsdbState, canonicalTableName } from './state.js';

const B = '00000000-0000-4000-8000-00000000000b';
const P = '00000000-0000-4000-8000-00000000000a';
const P2 = '00000000-0000-4000-8000-0000000000a2';
const I = '00000000-0000-4000-8000-00000000000c';

/** A row from `column: text-notation value` pairs. */
function row(columns: Record<string, string>): OvsdbColumns {
  return new Map(Object.entries(columns).map(([name, text]) => [name, parseTextDatum(text)]));
}

describe('buildOvsdbState', () => {
  it('an empty input is an empty model with no table known', () => {
    expect(buildOvsdbState(new Map())).toEqual({
      value: { uuid: null, systemId: null, hostname: null, ovsVersion: null, dbVersion: null, bridges: [], ports: [], interfaces: [], sflows: [], tables: [] },
      issues: [],
    });
  });

  it('values of the wrong type are reported with the table source and row, and read as absent', () => {
    const tables: OvsdbTables = new Map([
      ['Bridge', new Map([[B, row({ name: 'br-int', ports: `[${P}]`, fail_mode: '5', protocols: '{a=b}' })]])],
      ['Port', new Map([[P, row({ name: 'tap1', tag: '"one"', trunks: '[1, x]', other_config: '{segmentation_id="ten", net_uuid=n}', interfaces: `[${I}]` })]])],
      ['Interface', new Map([[I, row({ ofport: '3' })]])],
    ]);
    const built = buildOvsdbState(tables, new Map([['Port', 'list_port'], ['Bridge', 'list_bridge']]));
    expect(built.issues).toEqual([
      { source: 'list_bridge', line: 0, message: `Bridge ${B}: fail_mode is not a string` },
      { source: 'list_bridge', line: 0, message: `Bridge ${B}: protocols is not a set of strings` },
      { source: 'list_port', line: 0, message: `Port ${P}: tag is not a set of integers` },
      { source: 'list_port', line: 0, message: `Port ${P}: trunks is not a set of integers` },
      { source: 'list_port', line: 0, message: `Port ${P}: other_config:segmentation_id "ten" is not an integer` },
      { source: 'ovsdb model', line: 0, message: `Interface ${I}: no name` },
    ]);
    expect(built.value.ports[0]).toMatchObject({ name: 'tap1', bridge: 'br-int', tag: null, trunks: [], neutron: { netUuid: 'n', segmentationId: null } });
    expect(built.value.bridges[0]).toMatchObject({ failMode: null, protocols: [], ports: ['tap1'] });
    expect(built.value.interfaces[0]).toMatchObject({ name: '', ofport: 3, port: 'tap1', bridge: 'br-int' });
  });

  it('keeps references to rows not read as UUIDs, and their names out', () => {
    const tables: OvsdbTables = new Map([
      ['Bridge', new Map([[B, row({ name: 'br-int', ports: `[${P}, ${P2}]` })]])],
      ['Port', new Map([[P, row({ name: 'tap1', interfaces: `[${I}]` })]])],
    ]);
    const { value, issues } = buildOvsdbState(tables);
    expect(issues).toEqual([]);
    expect(value.bridges[0]).toMatchObject({ ports: ['tap1'], portUuids: [P, P2] });
    expect(value.ports[0]).toMatchObject({ interfaces: [], interfaceUuids: [I] });
    expect(value.tables).toEqual(['Bridge', 'Port']);
  });

  it('uses the first of several Open_vSwitch rows and says so', () => {
    const tables: OvsdbTables = new Map([['Open_vSwitch', new Map([[B, row({ ovs_version: '"3.1.0"' })], [P, row({})]])]]);
    const built = buildOvsdbState(tables, 'x');
    expect(built.value.ovsVersion).toBe('3.1.0');
    expect(built.issues).toEqual([{ source: 'x', line: 0, message: '2 Open_vSwitch rows: the first is used' }]);
  });

  it('reads a Neutron physical_network of "None" as none', () => {
    const tables: OvsdbTables = new Map([['Port', new Map([[P, row({ name: 'tap1', other_config: '{physical_network=None, tag="3"}' })]])]]);
    expect(buildOvsdbState(tables).value.ports[0]?.neutron).toEqual({ netUuid: null, networkType: null, physicalNetwork: null, segmentationId: null, localVlan: 3 });
  });
});

describe('canonicalTableName', () => {
  it.each([['interface', 'Interface'], ['sflow', 'sFlow'], ['open_vswitch', 'Open_vSwitch'], ['Controller', 'Controller']])('%s → %s', (name, want) => {
    expect(canonicalTableName(name)).toBe(want);
  });
});
