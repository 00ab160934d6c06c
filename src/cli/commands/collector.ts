// hoptrace collector: the ingest stage alone (UDP -> bus). It only makes sense with a bus other
// processes can read, i.e. Kafka; with the in-process bus nobody would ever see the datagrams.
import { UsageError } from '../../errors.js';
import type { CollectorFlags, GlobalFlags } from '../main.js';
import { flagTree, resolveConfig } from '../resolve-config.js';
import { runUntilSignal } from './serve.js';

export async function runCollector(flags: CollectorFlags, globals: GlobalFlags): Promise<void> {
  const brokers = flags.brokers?.split(',').map((b) => b.trim()).filter((b) => b !== '');
  const config = resolveConfig(globals, flagTree([
    ['collector.listen', flags.listen],
    ['collector.receiveBuffer', flags.receiveBuffer],
    ['http.listen', typeof flags.http === 'string' ? flags.http : undefined],
    ['http.enabled', flags.http === false ? false : undefined],
    ['bus.kind', brokers !== undefined ? 'kafka' : undefined],
    ['bus.brokers', brokers],
  ]));
  if (config.bus.kind !== 'kafka') {
    throw new UsageError('hoptrace collector publishes to Kafka for pipeline workers elsewhere: give --brokers (or bus.kind: kafka in the config). For everything in one process use `hoptrace serve`.');
  }
  await runUntilSignal('collector', config);
}
