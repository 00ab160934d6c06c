// hoptrace serve (everything in one process) and the shared run loop for long-running roles:
// start, log where we listen, stop cleanly on SIGTERM/SIGINT (flush what is queued, then exit 0).
import type { Config } from '../../config/schema.js';
import { createLogger, type Logger } from '../../observability/log.js';
import { startService, type Role } from '../../service/service.js';
import type { GlobalFlags, ServeFlags } from '../main.js';
import { flagTree, resolveWithDataDir } from '../resolve-config.js';

export async function runServe(flags: ServeFlags, globals: GlobalFlags): Promise<void> {
  const config = resolveWithDataDir(globals, flagTree([
    ['collector.listen', flags.listen],
    ['collector.receiveBuffer', flags.receiveBuffer],
    ['collector.receiver', flags.receiver],
    ['http.listen', typeof flags.http === 'string' ? flags.http : undefined],
    ['http.enabled', flags.http === false ? false : undefined],
  ]), flags.data);
  await runUntilSignal('all', config);
}

export async function runUntilSignal(role: Role, config: Config): Promise<void> {
  const log = createLogger({ level: config.log.level, format: config.log.format });
  const service = await startService(config, { role, log });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without waiting for the flush');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'stopping: flushing queued datagrams to the store');
      service.stop().then(resolve, (error: unknown) => {
        logStopError(log, error);
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('stopped');
  log.flush?.();
}

function logStopError(log: Logger, error: unknown): void {
  log.error({ err: error }, 'error while stopping');
  process.exitCode = 1;
}
