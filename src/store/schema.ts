// Every migration hoptrace runs, in id order: the sFlow tables (migrations.ts, ids 0001-0099) and
// the host-state tables (topology/migrations.ts, ids 0100-0199), the path tables
// (pathengine/migrations.ts, ids 0200-0299), with the retention rule of each
// table. migrate.ts applies these.
import { PATH_MIGRATIONS, PATH_RETENTION } from '../pathengine/migrations.js';
import { TOPOLOGY_MIGRATIONS, TOPOLOGY_RETENTION } from '../topology/migrations.js';
import { MIGRATIONS, TABLE_RETENTION, type Migration } from './migrations.js';
import type { Retention } from './store.js';

export const ALL_MIGRATIONS: readonly Migration[] = [...MIGRATIONS, ...TOPOLOGY_MIGRATIONS, ...PATH_MIGRATIONS].sort((a, b) => a.id.localeCompare(b.id));

export const ALL_RETENTION: Readonly<Record<string, { column: string; days: keyof Retention }>> = { ...TABLE_RETENTION, ...TOPOLOGY_RETENTION, ...PATH_RETENTION };
