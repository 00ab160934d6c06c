// `ovsdb-client dump` in JSON (agent) and list (sos 4.0) form, against the lists of the same database.
import { describe, expect, it } from 'vitest';
import { agentList, fixture, LIST_TABLES } from '../../../test/fixtures/ovsdb/load.js';
import { parseOvsdbClientDump } from './ovsdb-client-dump.js';
import type { OvsdbTables } from './rows.js';
import { buildOvsdbState } from './state.js';
import { parseVsctlList } from './vsctl-list.js';

const json = fixture('agent/ovsdb-client.dump.json');
const list = fixture('ovsdb-client_-f_list_dump');

function listsState() {
  const tables: OvsdbTables = new Map(LIST_TABLES.map(([name]) => [name, parseVsctlList(agentList(name), name).value]));
  return buildOvsdbState(tables).value;
}

describe('parseOvsdbClientDump on real output', () => {
  const fromJson = parseOvsdbClientDump(json, 'dump.json');
  const fromList = parseOvsdbClientDump(list, 'ovsdb-client_-f_list_dump');

  it('reads every table of both forms without issues, the same rows', () => {
    expect(fromJson.issues).toEqual([]);
    expect(fromList.issues).toEqual([]);
    expect([...fromJson.value.keys()]).toContain('Controller');
    expect(fromJson.value.get('AutoAttach')?.size).toBe(0);
    expect(fromList.value).toEqual(fromJson.value);
  });

  it('gives the model the ovs-vsctl lists give', () => {
    expect(buildOvsdbState(fromJson.value).value).toEqual(listsState());
    expect(buildOvsdbState(fromList.value).value).toEqual(listsState());
  });

  it('--data=json prints the same as -f json alone', () => {
    expect(parseOvsdbClientDump(fixture('agent/ovsdb-client.dump.data-json.json'), 'd').value).toEqual(fromJson.value);
  });
});

describe('a dump cut short', () => {
  it('JSON: tables before the cut are whole, the cut line is reported', () => {
    const lines = json.split('\n');
    const at = lines.findIndex((l) => l.includes('"Interface table"'));
    const cut = [...lines.slice(0, at), lines[at]?.slice(0, 500) ?? ''].join('\n');
    const parsed = parseOvsdbClientDump(cut, 'dump.json');
    expect(parsed.issues).toEqual([expect.objectContaining({ line: at + 1, message: expect.stringContaining('not JSON') })]);
    expect(parsed.value.get('Bridge')).toEqual(parseOvsdbClientDump(json, 'd').value.get('Bridge'));
    expect(parsed.value.has('Interface')).toBe(false);
  });

  it('list: cut at every line never throws and keeps earlier tables whole', () => {
    const whole = parseOvsdbClientDump(list, 'l').value;
    const lines = list.split('\n');
    for (let n = 0; n <= lines.length; n += 7) {
      const parsed = parseOvsdbClientDump(lines.slice(0, n).join('\n'), 'l');
      const names = [...parsed.value.keys()];
      for (const name of names.slice(0, -1)) expect(parsed.value.get(name)).toEqual(whole.get(name));
    }
  });

  it('a JSON table without caption and text before the first caption are reported', () => {
    expect(parseOvsdbClientDump('{"data":[],"headings":["_uuid"]}\n', 'd').issues).toEqual([
      expect.objectContaining({ line: 1, message: expect.stringContaining('caption') }),
    ]);
    expect(parseOvsdbClientDump('stray\nBridge table\n', 'd').issues).toEqual([expect.objectContaining({ line: 1, text: 'stray' })]);
  });
});
