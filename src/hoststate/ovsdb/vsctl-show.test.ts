import { describe, expect, it } from 'vitest';
import { agentList, captureInfo, fixture, LIST_TABLES, sosList } from '../../../test/fixtures/ovsdb/load.js';
import type { OvsdbTables } from './rows.js';
import { buildOvsdbState } from './state.js';
import { parseVsctlList } from './vsctl-list.js';
import { mergeShow, parseVsctlShow, toOvsShow } from './vsctl-show.js';

const showText = fixture('ovs-vsctl_-t_5_show');
const listed = buildOvsdbState(new Map(LIST_TABLES.map(([name]) => [name, parseVsctlList(agentList(name), name).value]))).value;

describe('parseVsctlShow on real output', () => {
  const show = parseVsctlShow(showText, 'ovs-vsctl_-t_5_show');
  const info = captureInfo();

  it('reads every line', () => {
    expect(show.issues).toEqual([]);
    expect(show.value.uuid).toBe(listed.uuid);
    expect(show.value.ovsVersion).toBe('3.1.0');
  });

  it('says what the lists say (controllers aside: the model does not read them)', () => {
    const withoutControllers = { ...show.value, bridges: show.value.bridges.map((b) => ({ ...b, controllers: [] })) };
    expect(withoutControllers).toEqual(toOvsShow(listed));
  });

  it('keeps the controller, tags, trunks, options and errors', () => {
    const brInt = show.value.bridges.find((b) => b.name === 'br-int');
    expect(brInt?.controllers).toEqual([{ target: info.neutron.controller, isConnected: false }]);
    expect(brInt?.failMode).toBe('secure');
    expect(brInt?.ports.find((p) => p.name === 'tap1')?.tag).toBe(info.neutron.vm1.tag);
    expect(brInt?.ports.find((p) => p.name === 'missing0')?.interfaces[0]?.error).toMatch(/No such device/);
    const brEx = show.value.bridges.find((b) => b.name === 'br-ex');
    expect(brEx?.ports.find((p) => p.name === 'trunk0')?.trunks).toEqual([100, 101]);
    const gre = show.value.bridges.find((b) => b.name === 'br-tun')?.ports.find((p) => p.name === info.neutron.greName);
    expect(gre?.interfaces[0]).toMatchObject({ type: 'gre', options: { remote_ip: info.neutron.greRemote, key: 'flow' } });
  });
});

describe('parseVsctlShow on damaged input', () => {
  it('reports lines that do not fit, with their number, and keeps the rest', () => {
    const lines = showText.split('\n');
    const at = lines.findIndex((l) => l.includes('options: {peer=patch-int}'));
    lines[at] = lines[at]?.replace('{peer=patch-int}', '{peer=patch-int') ?? '';
    lines.splice(3, 0, '      oddly indented: 1');
    const tagAt = lines.findIndex((l) => l.trim() === 'tag: 1');
    lines[tagAt] = lines[tagAt]?.replace('tag: 1', 'tag: one') ?? '';
    const parsed = parseVsctlShow(lines.join('\n'), 'show');
    expect(parsed.issues.map((i) => [i.line, i.message])).toEqual(
      [[4, 'line does not fit the outline here'], [tagAt + 1, 'expected integers'], [at + 2, 'missing "}" (value cut short?)']].sort((a, b) => Number(a[0]) - Number(b[0])),
    );
    expect(parsed.value.bridges.find((b) => b.name === 'br-int')?.ports.find((p) => p.name === 'tap1')?.tag).toBeNull();
    expect(parsed.value.bridges.map((b) => b.name)).toEqual(['br-ex', 'br-int', 'br-tun']);
  });

  it('cut at every line never throws', () => {
    const lines = showText.split('\n');
    for (let n = 0; n <= lines.length; n++) {
      const parsed = parseVsctlShow(lines.slice(0, n).join('\n'), 'show');
      expect(parsed.issues).toEqual([]);
    }
  });

  it('reads a connected manager and controller, quoted names, and bfd_status', () => {
    const text = [
      'd2bd1a3c-0000-4000-8000-000000000001',
      '    Manager "ptcp:6640:127.0.0.1"',
      '        is_connected: true',
      '    Bridge "br 0"',
      '        Controller "tcp:127.0.0.1:6633"',
      '            is_connected: true',
      '        Port "tap-1"',
      '            Interface "tap-1"',
      '                bfd_status: {state=up}',
      '    ovs_version: "2.17.9"',
    ].join('\n');
    expect(parseVsctlShow(text, 's')).toEqual({
      value: {
        uuid: 'd2bd1a3c-0000-4000-8000-000000000001',
        ovsVersion: '2.17.9',
        managers: [{ target: 'ptcp:6640:127.0.0.1', isConnected: true }],
        bridges: [{
          name: 'br 0',
          controllers: [{ target: 'tcp:127.0.0.1:6633', isConnected: true }],
          failMode: null,
          datapathType: '',
          ports: [{ name: 'tap-1', tag: null, trunks: [], interfaces: [{ name: 'tap-1', type: '', options: {}, error: null, bfdStatus: { state: 'up' } }] }],
        }],
      },
      issues: [],
    });
  });
});

describe('mergeShow', () => {
  it('fills in the ports of a sos model (no Port list) as the Port table has them', () => {
    const sosTables: OvsdbTables = new Map([
      ['Open_vSwitch', parseVsctlList(sosList('Open_vSwitch'), 'o').value],
      ['Bridge', parseVsctlList(sosList('bridge'), 'b').value],
      ['Interface', parseVsctlList(sosList('interface'), 'i').value],
    ]);
    const bare = buildOvsdbState(sosTables).value;
    expect(bare.ports).toEqual([]);
    expect(bare.bridges.every((b) => b.ports.length === 0 && b.portUuids.length > 0)).toBe(true);
    const merged = mergeShow(bare, parseVsctlShow(showText, 'show').value);
    const view = (s: typeof listed) => ({
      bridges: s.bridges.map((b) => [b.name, b.ports]),
      ports: s.ports.map((p) => ({ name: p.name, bridge: p.bridge, tag: p.tag, trunks: p.trunks, interfaces: p.interfaces })),
      interfaces: s.interfaces.map((i) => [i.name, i.port, i.bridge]),
    });
    expect(view(merged)).toEqual(view(listed));
    expect(merged.ports.every((p) => p.uuid === null)).toBe(true);
    expect(mergeShow(listed, parseVsctlShow(showText, 'show').value)).toBe(listed);
  });
});
