// A real JSON-RPC monitor transcript (capture.ts): the reply gives the lists' model; the updates,
// applied, give the model of the lists taken after the changes.
import { describe, expect, it } from 'vitest';
import { agentList, fixture, LIST_TABLES } from '../../../test/fixtures/ovsdb/load.js';
import { applyTableUpdates, parseTableUpdates, summarizeUpdates } from './monitor.js';
import type { OvsdbTables } from './rows.js';
import { buildOvsdbState, OVSDB_MODEL_TABLES } from './state.js';
import { parseVsctlList } from './vsctl-list.js';

interface Message {
  id?: unknown;
  method?: string;
  params?: unknown[];
  result?: unknown;
}
const messages = fixture('agent/monitor.jsonl').trim().split('\n').map((l) => JSON.parse(l) as Message);
const reply = messages.find((m) => m.id === 1 && m.method === undefined);
const updates = messages.filter((m) => m.method === 'update').map((m) => m.params?.[1]);

function listed(after: boolean) {
  return buildOvsdbState(new Map(LIST_TABLES.map(([name]) => [name, parseVsctlList(agentList(name, after), name).value]))).value;
}
function empty(): OvsdbTables {
  return new Map(OVSDB_MODEL_TABLES.map((t) => [t, new Map()]));
}

describe('monitor on real output', () => {
  const initial = parseTableUpdates(reply?.result, 'monitor');

  it('the initial rows give the model the lists give', () => {
    expect(initial.issues).toEqual([]);
    expect(buildOvsdbState(applyTableUpdates(empty(), initial.value)).value).toEqual(listed(false));
  });

  it('the updates, applied in order, give the model of the lists taken after them', () => {
    let tables = applyTableUpdates(empty(), initial.value);
    const before = tables;
    const beforeState = buildOvsdbState(before).value;
    for (const update of updates) {
      const parsed = parseTableUpdates(update, 'update');
      expect(parsed.issues).toEqual([]);
      tables = applyTableUpdates(tables, parsed.value);
    }
    const after = buildOvsdbState(tables).value;
    expect(after).toEqual(listed(true));
    expect(buildOvsdbState(before).value).toEqual(beforeState); // applying does not touch its input
    expect(after.ports.find((p) => p.name === 'qvo-new')).toMatchObject({ bridge: 'br-int', tag: 3 });
    expect(after.ports.find((p) => p.name === 'tap1')).toMatchObject({ tag: 5, neutron: { localVlan: 5 } });
    expect(after.interfaces.some((i) => i.name === 'missing0')).toBe(false);
    expect(beforeState.ports.find((p) => p.name === 'tap1')?.tag).toBe(1);
  });

  it('summarizes what each batch changed', () => {
    const changes = updates.map((u) => summarizeUpdates(parseTableUpdates(u, 'u').value));
    // add-port (then ovs-vswitchd filling in the new interface), set tag, del-port.
    expect(changes).toEqual([
      { tables: ['Bridge', 'Interface', 'Port'], inserted: 2, modified: 1, deleted: 0 },
      { tables: ['Interface'], inserted: 0, modified: 1, deleted: 0 },
      { tables: ['Port'], inserted: 0, modified: 1, deleted: 0 },
      { tables: ['Bridge', 'Interface', 'Port'], inserted: 0, modified: 1, deleted: 2 },
    ]);
  });
});

describe('parseTableUpdates on bad input', () => {
  it.each([
    { name: 'not an object', json: [1], issues: 1, tables: 0 },
    { name: 'a table that is not an object', json: { Port: 5 }, issues: 1, tables: 0 },
    { name: 'a row update that is not an object', json: { Port: { u1: 'x' } }, issues: 1, tables: 1 },
    { name: 'a bad datum in new', json: { Port: { u1: { new: { tag: { x: 1 } } }, u2: { new: { tag: 3 } } } }, issues: 1, tables: 1 },
  ])('$name: reported, the rest kept', ({ json, issues, tables }) => {
    const parsed = parseTableUpdates(json, 'u');
    expect(parsed.issues).toHaveLength(issues);
    expect(parsed.value.size).toBe(tables);
  });

  it('a modify merges the new columns into the row; a delete removes it', () => {
    const start = applyTableUpdates(new Map(), parseTableUpdates({ Port: { u1: { new: { name: 'a', tag: 1 } } } }, 'u').value);
    const modified = applyTableUpdates(start, parseTableUpdates({ Port: { u1: { old: { tag: 1 }, new: { name: 'a', tag: 2 } } } }, 'u').value);
    expect(modified.get('Port')?.get('u1')?.get('tag')).toEqual({ kind: 'set', atoms: [2] });
    expect(start.get('Port')?.get('u1')?.get('tag')).toEqual({ kind: 'set', atoms: [1] });
    const deleted = applyTableUpdates(modified, parseTableUpdates({ Port: { u1: { old: { name: 'a', tag: 2 } } } }, 'u').value);
    expect(deleted.get('Port')?.size).toBe(0);
  });
});
