// The one place that turns configuration into a Store: chDB embedded or a ClickHouse server.
import type { Config } from '../config/schema.js';
import type { Store } from '../store/store.js';

export async function openStore(config: Config): Promise<Store> {
  const retention = { rawDays: config.retention.rawDays, sampleDays: config.retention.sampleDays, rollupDays: config.retention.rollupDays };
  if (config.store.kind === 'chdb') {
    const { ChdbStore } = await import('../store/chdb-store.js');
    return ChdbStore.open({ path: config.store.path, retention });
  }
  const { ServerStore } = await import('../store/server-store.js');
  return new ServerStore({
    url: config.store.url,
    database: config.store.database,
    username: config.store.username,
    password: config.store.password,
    retention,
  });
}
