// hoptrace agent: snapshots of this host's OVS and Linux networking state, every --interval
// seconds and on OVSDB change, shipped to a directory, the collector (HTTP) or the bus.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { runAgent, type SnapshotReport } from '../../agent/agent.js';
import { agentArgv, COLLECT_DEFAULTS, type CollectOptions } from '../../agent/collect.js';
import { OvsdbMonitorSource, type ChangeSource } from '../../agent/ovsdb-watch.js';
import { BusSink, DirectorySink, HttpSink, type SnapshotSink } from '../../agent/sinks.js';
import { UsageError } from '../../errors.js';
import { COMMANDS } from '../../hoststate/commands.js';
import { HOST_NAME } from '../../snapshot/codec.js';
import { toJson } from '../json.js';
import type { GlobalFlags } from '../main.js';
import { resolveConfig } from '../resolve-config.js';

export interface AgentFlags {
  interval: number;
  once?: boolean;
  out?: string;
  collector?: string;
  tokenFile?: string;
  bus?: boolean;
  host?: string;
  netns?: string;
  ovsRundir?: string;
  netnsPattern?: string;
  bridge?: string[];
  timeout: number;
  concurrency: number;
  ethtool: boolean;
  watch: boolean;
  debounce: number;
  listCommands?: boolean;
  json?: boolean;
}

/** Default OVS run directories, in the order ovs-vsctl itself would look. */
const OVS_RUNDIRS = ['/run/openvswitch', '/var/run/openvswitch'];

export function register(program: Command): void {
  program
    .command('agent')
    .description("Snapshot this host's OVS and Linux networking state (the commands sosreport runs) periodically and on OVSDB change")
    .option('--interval <seconds>', 'seconds between snapshots', seconds, 30)
    .option('--once', 'take one snapshot, ship it, exit')
    .option('--out <dir>', 'write snapshots to DIR/<host>/<time>/ (see docs/snapshots.md)')
    .option('--collector <url>', 'POST snapshots to a hoptrace collector (http://host:8080)')
    .option('--token-file <file>', 'bearer token for --collector, read from this file')
    .option('--bus', 'publish to the configured bus (Kafka: bus.kind=kafka), topic hoptrace.snapshots.v1')
    .option('--host <name>', 'host name to record (default: hostname)')
    .option('--netns <name>', 'run every command inside this network namespace (a lab host)')
    .option('--ovs-rundir <dir>', 'OVS run directory holding db.sock, BR.mgmt and ovs-vswitchd.ctl (default: OVS_RUNDIR or /run/openvswitch)')
    .option('--netns-pattern <regex>', 'only namespaces whose name matches (default: all)')
    .option('--bridge <name...>', 'also collect these bridges when OVSDB does not list them (a missing one is recorded as failing)')
    .option('--timeout <seconds>', 'per command', seconds, COLLECT_DEFAULTS.timeoutMs / 1000)
    .option('--concurrency <n>', 'commands run at once', count, COLLECT_DEFAULTS.concurrency)
    .option('--no-ethtool', 'skip ethtool -S on veth devices')
    .option('--no-watch', 'no OVSDB change trigger: interval only')
    .option('--debounce <seconds>', 'quiet time after an OVSDB change before the snapshot', seconds, 1.5)
    .option('--list-commands', 'print the command catalog and exit')
    .option('--json', 'one JSON summary per snapshot (with --list-commands: the catalog as JSON)')
    .addHelpText('after', `
Exactly one of --out, --collector or --bus (unless --list-commands).

Examples:
  $ hoptrace agent --once --out /var/tmp/snapshots
  $ hoptrace agent --collector http://192.0.2.10:8080 --token-file /etc/hoptrace/token --interval 60
  $ hoptrace --config hoptrace.yaml agent --bus            # bus.kind=kafka in the configuration
  $ hoptrace agent --list-commands
  # a lab host (its own ovsdb-server/ovs-vswitchd in a namespace):
  $ hoptrace agent --once --out /tmp/s --netns ht-1-0-hv1 --ovs-rundir /tmp/lab/hv1 --host hv1`)
    .action(async (flags: AgentFlags, command: Command) => {
      await runAgentCommand(flags, command.optsWithGlobals());
    });
}

export async function runAgentCommand(flags: AgentFlags, globals: GlobalFlags): Promise<void> {
  if (flags.listCommands === true) {
    printCatalog(flags);
    return;
  }
  const targets = [flags.out, flags.collector, flags.bus === true ? 'bus' : undefined].filter((t) => t !== undefined);
  if (targets.length !== 1) throw new UsageError('give exactly one of --out DIR, --collector URL or --bus');
  if (flags.tokenFile !== undefined && flags.collector === undefined) throw new UsageError('--token-file goes with --collector');
  if (flags.host !== undefined && !HOST_NAME.test(flags.host)) throw new UsageError(`--host ${JSON.stringify(flags.host)}: use letters, digits, . _ - only`);
  let pattern: RegExp | undefined;
  if (flags.netnsPattern !== undefined) {
    try {
      pattern = new RegExp(flags.netnsPattern);
    } catch (error) {
      throw new UsageError(`--netns-pattern: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const ovsRundir = flags.ovsRundir ?? process.env['OVS_RUNDIR'] ?? OVS_RUNDIRS.find((dir) => existsSync(join(dir, 'db.sock')));
  const collect: CollectOptions = {
    timeoutMs: flags.timeout * 1000,
    concurrency: flags.concurrency,
    ethtool: flags.ethtool,
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(flags.netns === undefined ? {} : { netns: flags.netns }),
    ...(ovsRundir === undefined ? {} : { ovsRundir }),
    ...(pattern === undefined ? {} : { namespaceFilter: (name: string) => pattern.test(name) }),
    ...(flags.bridge === undefined ? {} : { extraBridges: flags.bridge }),
  };
  const sink = await openSink(flags, globals);
  const changes: ChangeSource | undefined = flags.watch && flags.once !== true
    ? new OvsdbMonitorSource({ socketPath: join(ovsRundir ?? OVS_RUNDIRS[0] as string, 'db.sock'), onError: (message) => warn(message) })
    : undefined;
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (flags.json !== true && flags.once !== true) {
      process.stderr.write(`hoptrace agent: every ${flags.interval} s${changes === undefined ? '' : ' and on OVSDB change'}, to ${sinkName(flags)}\n`);
    }
    const summary = await runAgent({
      collect,
      sink,
      intervalMs: flags.interval * 1000,
      debounceMs: flags.debounce * 1000,
      ...(changes === undefined ? {} : { changes }),
      ...(flags.once === true ? { once: true } : {}),
      signal: abort.signal,
      onSnapshot: (report) => printReport(report, flags),
      onError: (message) => warn(message),
    });
    if (flags.once === true && summary.delivered === 0) process.exitCode = 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await sink.close();
  }
}

async function openSink(flags: AgentFlags, globals: GlobalFlags): Promise<SnapshotSink> {
  if (flags.out !== undefined) return new DirectorySink(flags.out);
  if (flags.collector !== undefined) {
    let token: string | undefined;
    if (flags.tokenFile !== undefined) {
      token = (await readFile(flags.tokenFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read --token-file ${flags.tokenFile}: ${error.code ?? error.message}`);
      })).trim();
      if (token === '' || /\s/.test(token)) throw new UsageError(`--token-file ${flags.tokenFile}: the token must be one word`);
    }
    return new HttpSink({ url: flags.collector, ...(token === undefined ? {} : { token }) });
  }
  const config = resolveConfig(globals);
  if (config.bus.kind === 'memory') {
    throw new UsageError('--bus needs a shared bus: the configuration has bus.kind memory (in-process); set bus.kind kafka, or use --collector');
  }
  const { KafkaBus } = await import('../../bus/kafka-bus.js');
  const bus = new KafkaBus({ brokers: config.bus.brokers, clientId: `${config.bus.clientId}-agent`, topicPrefix: config.bus.topicPrefix, capacity: 64, compression: 'gzip' });
  await bus.connect();
  return new BusSink(bus);
}

function sinkName(flags: AgentFlags): string {
  return flags.out ?? flags.collector ?? 'the bus (hoptrace.snapshots.v1)';
}

function printReport(report: SnapshotReport, flags: AgentFlags): void {
  if (flags.json === true) {
    process.stdout.write(`${toJson(report)}\n`);
    return;
  }
  const shipped = report.shipped;
  const where = 'error' in shipped ? `NOT delivered: ${shipped.error}`
    : shipped.delivered ? `-> ${shipped.target}${shipped.spooled > 0 ? ` (${shipped.spooled} spooled)` : ''}`
    : `spooled (${shipped.spooled} waiting, ${shipped.dropped} dropped)${shipped.detail === undefined ? '' : `: ${shipped.detail}`}`;
  process.stdout.write(`${report.takenAt} ${report.host} [${report.trigger}] ${report.outputs} outputs (${report.failed} failed), ${report.bridges} bridges, ${report.namespaces} namespaces, ${kib(report.bytes)} in ${report.collectMs} ms ${where}\n`);
}

function printCatalog(flags: AgentFlags): void {
  const rows = COMMANDS.map((spec) => ({
    id: spec.id,
    scope: spec.scope,
    argv: agentArgv(spec, { bridge: 'BRIDGE', namespace: 'NS', device: 'DEV' }, {}),
    agent: spec.importOnly !== true,
    sos: spec.sos,
    purpose: spec.purpose,
  }));
  if (flags.json === true) {
    process.stdout.write(`${toJson(rows)}\n`);
    return;
  }
  const width = Math.max(...rows.map((r) => r.id.length));
  for (const row of rows) {
    process.stdout.write(`${row.id.padEnd(width)}  ${row.scope.padEnd(9)}  ${row.agent ? row.argv.join(' ') : '(import only)'}\n${' '.repeat(width + 13)}${row.purpose}\n`);
  }
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function warn(message: string): void {
  process.stderr.write(`hoptrace agent: ${message}\n`);
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new InvalidArgumentError(`expected seconds (0 < n <= 86400), got "${value}"`);
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`expected a whole number 1-64, got "${value}"`);
  return n;
}
