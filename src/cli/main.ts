#!/usr/bin/env node
// hoptrace: one command line for the service, the decoder and the store.
// Errors a user can act on are one line on stderr: exit 2 for usage and configuration, 1 when the
// work itself failed. A stack trace appears only for a bug (an error hoptrace did not expect).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, HoptraceError, ParseError, UsageError, describeError } from '../errors.js';
import { VERSION } from '../version.js';
import { register as registerAgent } from './commands/agent.js';
import { register as registerImport } from './commands/import.js';
import { register as registerTopology } from './commands/topology.js';
import { register as registerAnalyze } from './commands/analyze.js';
import { register as registerTrace } from './commands/trace.js';
import { register as registerPaths } from './commands/paths.js';

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('hoptrace')
    .description('Where does the frame die? Per-hop paths in Open vSwitch / Neutron clouds from sFlow and host snapshots.')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'YAML configuration file (see docs/configuration.md)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'hoptrace: ')) })
    .exitOverride();

  program
    .command('serve')
    .description('Run the embedded service: receive sFlow on UDP, decode, store in chDB under ./data, serve /health and /metrics')
    .option('-l, --listen <host:port>', 'UDP address for sFlow (default 0.0.0.0:6343)')
    .option('--http <host:port>', 'HTTP address for /health and /metrics (default 127.0.0.1:8080)')
    .option('--no-http', 'do not start the HTTP server')
    .option('-d, --data <dir>', 'embedded store directory (default ./data)')
    .option('--receive-buffer <bytes>', 'UDP socket receive buffer in bytes (default 4194304)', positiveInt)
    .addOption(new Option('--receiver <kind>', 'UDP receive loop: dgram (Node) or native (recvmmsg thread)').choices(['dgram', 'native']))
    .addHelpText('after', `
Examples:
  $ hoptrace serve                               # UDP 6343, data in ./data, http://127.0.0.1:8080/metrics
  $ hoptrace serve --listen 127.0.0.1:16343 --data /var/lib/hoptrace
  # point Open vSwitch at it:
  $ ovs-vsctl -- --id=@s create sflow agent=eth0 target='"192.0.2.10:6343"' header=128 sampling=64 polling=10 \\
      -- set bridge br-int sflow=@s`)
    .action(async (options: ServeFlags, command: Command) => {
      const { runServe } = await import('./commands/serve.js');
      await runServe(options, command.optsWithGlobals());
    });

  program
    .command('collector')
    .description('Run only the ingest stage: receive sFlow on UDP and publish raw datagrams to the bus (Kafka in a distributed deployment)')
    .option('-l, --listen <host:port>', 'UDP address for sFlow (default 0.0.0.0:6343)')
    .option('--http <host:port>', 'HTTP address for /health and /metrics (default 127.0.0.1:8080)')
    .option('--no-http', 'do not start the HTTP server')
    .option('--brokers <list>', 'Kafka bootstrap brokers, comma-separated (sets bus.kind=kafka)')
    .option('--receive-buffer <bytes>', 'UDP socket receive buffer in bytes', positiveInt)
    .addHelpText('after', `
Examples:
  $ hoptrace collector --brokers kafka-1:9092,kafka-2:9092
  $ HOPTRACE_BUS__KIND=kafka HOPTRACE_BUS__BROKERS='[\"kafka:9092\"]' hoptrace collector`)
    .action(async (options: CollectorFlags, command: Command) => {
      const { runCollector } = await import('./commands/collector.js');
      await runCollector(options, command.optsWithGlobals());
    });

  program
    .command('decode')
    .description('Decode the sFlow datagrams in pcap/pcapng captures: one JSON datagram per line on stdout')
    .argument('<files...>', 'classic pcap or pcapng files (Ethernet, Linux cooked or raw IP; UDP over IPv4/IPv6)')
    .option('-p, --port <port>', 'only UDP packets to this destination port (default: every UDP packet)', port)
    .option('--text', 'a readable line per datagram and sample instead of JSON')
    .option('--summary', 'only totals: datagrams, samples and records by kind, errors')
    .option('--json', 'JSON output (the default for datagrams; with --summary, the totals as one JSON object)')
    .option('--no-packet', 'leave out the parsed sampled header (faster, smaller)')
    .addHelpText('after', `
Each line is a datagram {frame, receivedAt, exporter, agent, subAgentId, sequence, uptimeMs, samples[], issues[]}
or, for a datagram that cannot be decoded, {frame, exporter, error:{code, offset, path, message}}.
Field names are documented in docs/sflow-decoded.md.

Examples:
  $ hoptrace decode capture.pcap | jq -c 'select(.samples[].kind == "discard")'
  $ hoptrace decode --summary ../shared/testdata/corpus/ovs-sflow-10k.pcap
  $ hoptrace decode --text --port 6343 lab.pcapng | less`)
    .action(async (files: string[], options: DecodeFlags) => {
      const { runDecode } = await import('./commands/decode.js');
      await runDecode(files, options);
    });

  program
    .command('replay')
    .description('Resend the sFlow datagrams of captures over UDP, e.g. to a running collector')
    .argument('<files...>', 'pcap or pcapng files')
    .option('-t, --target <host:port>', 'where to send', '127.0.0.1:6343')
    .option('-r, --rate <datagrams/s>', 'send at this rate (default: as captured, following timestamps)', positiveInt)
    .option('-f, --as-fast-as-possible', 'send without pacing')
    .option('-n, --loop <count>', 'send the captures this many times', positiveInt, 1)
    .option('-p, --port <port>', 'only UDP packets to this destination port (default: every UDP packet)', port)
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', `
Examples:
  $ hoptrace replay --as-fast-as-possible --loop 10 ../shared/testdata/corpus/ovs-sflow-10k.pcap
  $ hoptrace replay --rate 20000 --target 127.0.0.1:16343 lab.pcap`)
    .action(async (files: string[], options: ReplayFlags) => {
      const { runReplay } = await import('./commands/replay.js');
      await runReplay(files, options);
    });

  program
    .command('query')
    .description('Run ClickHouse SQL on the store (embedded ./data by default) and print the result')
    .argument('[sql]', 'the query; tables live in database hoptrace (see docs/schema.md)')
    .option('-d, --data <dir>', 'embedded store directory (default ./data)')
    .option('--file <file>', 'read the query from a file')
    .option('--param <name=value>', 'a query parameter, used as {name:Type} in the SQL (repeat the flag for more)', collect)
    .option('--json', 'one JSON object per row')
    .option('--format <format>', 'any ClickHouse output format (CSV, TSVWithNames, Vertical, ...)')
    .addHelpText('after', `
Examples:
  $ hoptrace query "SELECT agent, count() FROM hoptrace.flow_samples GROUP BY agent"
  $ hoptrace query --json --param agent=192.0.2.1 \\
      "SELECT * FROM hoptrace.flow_samples WHERE agent = {agent:String} ORDER BY received_at DESC LIMIT 10"
  $ hoptrace query "SELECT error_code, count() FROM hoptrace.quarantine GROUP BY error_code"`)
    .action(async (sql: string | undefined, options: QueryFlags, command: Command) => {
      const { runQuery } = await import('./commands/query.js');
      await runQuery(sql, options, command.optsWithGlobals());
    });

  program
    .command('config')
    .description('Print the effective configuration (defaults < file < HOPTRACE_* env < flags), secrets redacted')
    .option('--json', 'JSON instead of YAML')
    .addHelpText('after', `
Examples:
  $ hoptrace config
  $ HOPTRACE_STORE__PATH=/var/lib/hoptrace hoptrace --config hoptrace.yaml config --json`)
    .action(async (options: { json?: boolean }, command: Command) => {
      const { runConfig } = await import('./commands/config.js');
      runConfig(options, command.optsWithGlobals());
    });

  registerAgent(program);
  registerImport(program);
  registerTopology(program);
  registerAnalyze(program);
  registerTrace(program);
  registerPaths(program);
  return program;
}

export interface GlobalFlags { config?: string; logLevel?: string }
export interface ServeFlags { listen?: string; http?: string | false; data?: string; receiveBuffer?: number; receiver?: string }
export interface CollectorFlags { listen?: string; http?: string | false; brokers?: string; receiveBuffer?: number }
export interface DecodeFlags { port?: number; text?: boolean; summary?: boolean; json?: boolean; packet: boolean }
export interface ReplayFlags { target: string; rate?: number; asFastAsPossible?: boolean; loop: number; port?: number; json?: boolean }
export interface QueryFlags { data?: string; file?: string; param?: string[]; json?: boolean; format?: string }

/** A repeatable option: one value per flag, collected in order (a variadic one would swallow the arguments after it). */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got "${value}"`);
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError(`expected a port 1-65535, got "${value}"`);
  return n;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    // A file given on the command line that is not what it should be is a usage error too.
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof ParseError) {
      process.stderr.write(`hoptrace: ${error.message}\n`);
      return EXIT.USAGE;
    }
    if (error instanceof HoptraceError) {
      process.stderr.write(`hoptrace: ${error.message}\n`);
      return error.code === 'bad-argument' ? EXIT.USAGE : EXIT.FAILURE;
    }
    process.stderr.write(`hoptrace: ${describeError(error)}\n${error instanceof Error && error.stack !== undefined ? `${error.stack}\n` : ''}This is a bug in hoptrace ${VERSION}; please report it with the command line that caused it.\n`);
    return EXIT.FAILURE;
  }
}

// Run when executed directly (bin or `node dist/src/cli/main.js`), not when imported by tests.
const invoked = process.argv[1];
if (invoked !== undefined && /(?:^|[\\/])(main\.js|hoptrace)$/.test(invoked)) {
  // The reader of our output went away (`hoptrace analyze ... | head`): stop quietly, as cat does.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.OK);
    process.stderr.write(`hoptrace: writing the output: ${error.message}\n`);
    process.exit(EXIT.FAILURE);
  });
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (error: unknown) => { process.stderr.write(`hoptrace: ${describeError(error)}\n`); process.exitCode = EXIT.FAILURE; },
  );
}
