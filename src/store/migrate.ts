// Applies MIGRATIONS through either store, then brings each table's TTL in line with the
// configured retention. Safe to run on every start and from several workers at once: statements
// are idempotent and schema_migrations is a ReplacingMergeTree keyed on the migration id.
import { StoreError } from '../errors.js';
import { migrationChecksum, renderMigration, type Migration } from './migrations.js';
import { ALL_MIGRATIONS, ALL_RETENTION } from './schema.js';
import type { MigrationReport, Retention, Store } from './store.js';

export type MigrationTarget = Pick<Store, 'command' | 'query' | 'insert'>;

export async function runMigrations(
  target: MigrationTarget,
  database: string,
  retention: Retention,
  hoptraceVersion: string,
  migrations: readonly Migration[] = ALL_MIGRATIONS,
): Promise<MigrationReport> {
  checkRetention(retention);
  const report: MigrationReport = { database, applied: [], alreadyApplied: [], retentionChanged: [] };
  const [first, ...rest] = migrations;
  if (first === undefined) return report;
  // The first migration creates the database and schema_migrations itself: always run (idempotent).
  await applyStatements(target, first, database, retention);
  const recorded = await target.query<{ id: string; checksum: string }>(
    `SELECT id, argMax(checksum, applied_at) AS checksum FROM ${database}.schema_migrations GROUP BY id`,
  );
  const known = new Map(recorded.map((row) => [row.id, row.checksum]));
  for (const migration of migrations) {
    const checksum = migrationChecksum(migration);
    const previous = known.get(migration.id);
    if (previous !== undefined) {
      if (previous !== checksum) {
        throw new StoreError(
          'migration-failed',
          `migration ${migration.id} was applied with checksum ${previous} but the code has ${checksum}: ` +
            'a released migration was edited; add a new migration instead',
        );
      }
      report.alreadyApplied.push(migration.id);
      continue;
    }
    if (migration !== first) await applyStatements(target, migration, database, retention);
    await target.insert('schema_migrations', [{ id: migration.id, checksum, hoptrace_version: hoptraceVersion }]);
    report.applied.push(migration.id);
  }
  report.retentionChanged = await applyRetention(target, database, retention);
  return report;
}

async function applyStatements(target: MigrationTarget, migration: Migration, database: string, retention: Retention): Promise<void> {
  const statements = renderMigration(migration, database, retention);
  for (let i = 0; i < statements.length; i++) {
    try {
      await target.command(statements[i] as string);
    } catch (error) {
      const where = error instanceof StoreError ? error : undefined;
      throw new StoreError(
        'migration-failed',
        `migration ${migration.id}, statement ${i + 1} of ${statements.length}: ${error instanceof Error ? error.message : String(error)}`,
        {
          ...(where?.queryId !== undefined ? { queryId: where.queryId } : {}),
          ...(where?.clickhouseCode !== undefined ? { clickhouseCode: where.clickhouseCode } : {}),
        },
        { cause: error, retriable: where?.retriable ?? false },
      );
    }
  }
}

const TTL_DAYS = /TTL .*?toIntervalDay\((\d+)\)/;

/** ALTER ... MODIFY TTL for tables whose TTL does not match `retention` (metadata only, no rewrite). */
async function applyRetention(target: MigrationTarget, database: string, retention: Retention): Promise<string[]> {
  const tables = await target.query<{ name: string; engine_full: string }>(
    'SELECT name, engine_full FROM system.tables WHERE database = {database:String}',
    { database },
  );
  const changed: string[] = [];
  for (const { name, engine_full: engineFull } of tables) {
    const rule = ALL_RETENTION[name];
    if (rule === undefined) continue;
    const want = retention[rule.days];
    const have = TTL_DAYS.exec(engineFull)?.[1];
    if (have !== undefined && Number(have) === want) continue;
    // materialize_ttl_after_modify=0: old parts keep their TTL info until merged; nothing is rewritten now.
    await target.command(
      `ALTER TABLE ${database}.${name} MODIFY TTL ${rule.column} + toIntervalDay(${want}) SETTINGS materialize_ttl_after_modify = 0`,
    );
    changed.push(name);
  }
  return changed;
}

function checkRetention(retention: Retention): void {
  for (const key of ['rawDays', 'sampleDays', 'rollupDays'] as const) {
    const days = retention[key];
    if (!Number.isInteger(days) || days < 1) {
      throw new StoreError('migration-failed', `retention.${key} must be a whole number of days >= 1, got ${days}`);
    }
  }
}
