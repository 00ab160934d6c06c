import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { indexBridge, lookup, type TableIndex } from './bridge-index.js';
import { buildFrameFields } from './frame.js';
import { FIELD } from './fields.js';
import { parseDumpFlows } from './ovs-ofctl-dump-flows.js';

// Per-port rules (bucketed by in_port) interleaved with wildcard rules at every priority.
function flows(): string {
  const lines: string[] = [];
  for (let port = 1; port <= 30; port++) {
    lines.push(`priority=${10 + (port % 3)},in_port=${port},dl_dst=fa:16:3e:00:00:0${port % 4} actions=output:${port + 100}`);
    lines.push(`priority=${5 + (port % 5)},in_port=${port},ip actions=output:${port + 200}`);
  }
  lines.push('priority=11,dl_dst=fa:16:3e:00:00:02 actions=output:300');
  lines.push('priority=7,ip,nw_dst=192.0.2.0/25 actions=output:301');
  lines.push('priority=6,dl_dst=fa:16:3e:00:00:01 actions=output:302');
  lines.push('priority=0 actions=drop');
  return lines.join('\n');
}

describe('table index', () => {
  const bridge = { name: 'br', flows: parseDumpFlows(flows()).value, ports: [], fdb: [] };
  const table = indexBridge(bridge).tables.get(0) as TableIndex;
  const scanned: TableIndex = { ...table, slot: -1, buckets: new Map(), rest: table.rules };

  it('buckets the per-port rules by in_port', () => {
    expect(table.slot).toBe(FIELD.in_port);
    expect(table.buckets.size).toBe(30);
    expect(table.rest).toHaveLength(4);
  });

  it('finds what a whole-table scan finds, ties included', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 33 }), fc.integer({ min: 0, max: 5 }), fc.boolean(), fc.integer({ min: 0, max: 255 }), (port, mac, isIp, host) => {
        const fields = buildFrameFields({ dl_dst: `fa:16:3e:00:00:0${mac}`, ...(isIp ? { nw_dst: `192.0.2.${host}` } : {}) });
        fields[FIELD.in_port] = BigInt(port);
        const got = lookup(table, fields);
        const want = lookup(scanned, fields);
        expect(got.kind).toBe(want.kind);
        if (got.kind !== 'miss' && want.kind !== 'miss') expect(got.rule.order).toBe(want.rule.order);
      }),
      { numRuns: 3000 },
    );
  });
});
