import { describe, expect, it } from 'vitest';
import { MIGRATIONS, TABLE_RETENTION, migrationChecksum, renderMigration } from './migrations.js';
import { COUNTER_WIRE, DATAGRAM_WIRE, DISCARD_WIRE, FLOW_WIRE, QUARANTINE_WIRE } from './sflow-tables.js';

const RETENTION = { rawDays: 3, sampleDays: 14, rollupDays: 60 };
const rendered = MIGRATIONS.flatMap((m) => renderMigration(m, 'hx', RETENTION)).join('\n');

describe('MIGRATIONS', () => {
  it('are numbered in order, once each', () => {
    const ids = MIGRATIONS.map((m) => m.id);
    expect(ids.every((id) => /^\d{4}-[a-z0-9-]+$/.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids.map((id) => id.slice(0, 4))).size).toBe(ids.length);
  });

  it('are idempotent statements: every CREATE says IF NOT EXISTS', () => {
    const creates = rendered.match(/CREATE (TABLE|DATABASE|MATERIALIZED VIEW)( IF NOT EXISTS)?/g) ?? [];
    expect(creates.length).toBeGreaterThan(5);
    expect(creates.filter((c) => !c.endsWith('IF NOT EXISTS'))).toEqual([]);
  });

  it('fill in the database and the retention, and leave no placeholder', () => {
    expect(rendered).not.toMatch(/\{(db|raw_days|sample_days|rollup_days)\}/);
    expect(rendered).toContain('CREATE TABLE IF NOT EXISTS hx.flow_samples');
    expect(rendered).toContain('toIntervalDay(3)');
    expect(rendered).toContain('toIntervalDay(14)');
    expect(rendered).toContain('toIntervalDay(60)');
  });

  it('have checksums that depend on the SQL only', () => {
    const first = MIGRATIONS[1];
    if (first === undefined) throw new Error('no migrations');
    expect(migrationChecksum(first)).toBe(migrationChecksum({ ...first }));
    expect(migrationChecksum({ ...first, statements: [`${first.statements[0]} `] })).not.toBe(migrationChecksum(first));
  });

  it('name a retention rule for every table with a TTL', () => {
    const withTtl = [...rendered.matchAll(/CREATE TABLE IF NOT EXISTS hx\.(\w+) \(((?!CREATE)[\s\S])*?\bTTL\b/g)].map((m) => m[1]);
    expect(withTtl.sort()).toEqual(Object.keys(TABLE_RETENTION).sort());
  });

  it.each([
    { table: 'flow_samples', wire: FLOW_WIRE },
    { table: 'counter_samples', wire: COUNTER_WIRE },
    { table: 'discard_samples', wire: DISCARD_WIRE },
    { table: 'sflow_datagrams', wire: DATAGRAM_WIRE },
    { table: 'quarantine', wire: QUARANTINE_WIRE },
  ])('create every column the $table encoder writes', ({ table, wire }) => {
    const ddl = new RegExp(`CREATE TABLE IF NOT EXISTS hx\\.${table} \\(([\\s\\S]*?)\\) ENGINE`).exec(rendered)?.[1] ?? '';
    const columns = [...ddl.matchAll(/^\s*(\w+) [A-Z]/gm)].map((m) => m[1]).filter((name) => name !== 'INDEX');
    const written = wire.map((column) => column[0]);
    expect(columns.filter((name) => name !== 'row_id' && name !== 'stored_at').sort()).toEqual([...written].sort());
    expect(columns).toContain('stored_at');
  });
});
