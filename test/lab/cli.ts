// `npm run lab <command>`: a Neutron ML2/OVS lab that outlives the command, for trying hoptrace by
// hand. One CLI lab at a time; its state file ($TMPDIR/hoptrace-lab/state.json) says what `down`
// ends. Needs root (namespaces) and Open vSwitch.
import { spawn } from 'node:child_process';
import { Command, InvalidArgumentError } from 'commander';
import { join, resolve } from 'node:path';
import { collectSnapshot } from '../../src/agent/collect.js';
import { HttpSink } from '../../src/agent/sinks.js';
import { probeOvsLab } from '../support/ovs-lab.js';
import { BREAK_SCENARIOS, breakLab, describeBreak, isBreakScenario, repairLab, type BreakScenario } from './break.js';
import { createNeutronLab, type LabInstance, type NeutronLabLayout } from './neutron-lab.js';
import { sosSource, sosTree } from './sos-tree.js';
import { attachLab, daemonsOf, destroyFromState, layoutOf, liveness, readState, statePath, writeState, STATE_VERSION, type NeutronLabState } from './state.js';
import { arping, dhcpRequest, ping } from './traffic.js';

const CLI_LAB = { id: 'hlab', linkPrefix: 'hlab' } as const;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got ${value}`);
  return n;
}

function requireState(): NeutronLabState {
  const state = readState();
  if (state === undefined) throw new CliError(`no lab is up (${statePath()} not found): run \`npm run lab up\``);
  return state;
}

class CliError extends Error {
  override readonly name = 'CliError';
}

function print(json: boolean, data: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : text.endsWith('\n') ? text : `${text}\n`);
}

function describeLayout(layout: NeutronLabLayout): string {
  const lines = [
    `lab ${layout.id}: network ${layout.network.id} (${layout.network.cidr}, ${layout.network.networkType === 'vxlan' ? 'VXLAN VNI' : 'GRE key'} 0x${layout.network.segmentationId.toString(16)}, MTU ${layout.network.mtu}), sFlow -> ${layout.sflow.target} (sampling 1/${layout.sflow.sampling}, polling ${layout.sflow.polling}s)`,
    ...layout.hosts.map((h) => `  ${h.label.padEnd(9)} netns ${h.netns}  mgmt0 ${h.mgmtAddress}  underlay ${h.underlay.address}  local VLAN ${h.localVlan}  OVS_RUNDIR=${h.dir}`),
    ...layout.instances.map((i) => `  ${i.label.padEnd(9)} on ${i.host}  netns ${i.netns}  ${i.ip} ${i.mac}  port ${i.portId}  ${i.devices.tap}/${i.devices.qbr}/${i.devices.qvb}/${i.devices.qvo} (br-int ofport ${i.ofport})`),
    `  dhcp      ${layout.dhcp.namespace}  ${layout.dhcp.device} ${layout.dhcp.ip} ${layout.dhcp.mac}  dnsmasq pid ${layout.dhcp.pid}`,
    `  router    ${layout.router.namespace}  ${layout.router.qr.device} ${layout.router.qr.ip}  ${layout.router.qg.device} ${layout.router.qg.ip} (SNAT)`,
    `  external  ${layout.external.namespace}  eth0 ${layout.external.ip} (beyond br-ex eth2)`,
  ];
  return lines.join('\n');
}

async function up(options: { collector: string; sampling: number; polling: number; computeHosts: number; tunnel: string }): Promise<void> {
  const existing = readState();
  if (existing !== undefined) throw new CliError(`a lab is up already (${statePath()}): \`npm run lab status\`, or \`npm run lab down\` first`);
  const unavailable = await probeOvsLab();
  if (unavailable !== undefined) throw new CliError(`cannot build a lab here: ${unavailable}`);
  if (options.computeHosts !== 1 && options.computeHosts !== 2) throw new CliError('--compute-hosts is 1 or 2');
  if (options.tunnel !== 'gre' && options.tunnel !== 'vxlan') throw new CliError(`--tunnel is gre or vxlan, got ${options.tunnel}`);
  const lab = await createNeutronLab({
    persistent: CLI_LAB,
    collector: options.collector,
    sampling: options.sampling,
    polling: options.polling,
    computeHosts: options.computeHosts,
    tunnelType: options.tunnel,
  });
  const layout = layoutOf(lab);
  try {
    writeState({ version: STATE_VERSION, createdAt: new Date().toISOString(), createdBy: process.pid, linkPrefix: CLI_LAB.linkPrefix, layout, daemons: daemonsOf(layout), breaks: [] });
  } catch (error) {
    await lab.teardown();
    throw error;
  }
  process.stdout.write(`${describeLayout(layout)}\nup in ${layout.timings['total'] ?? '?'} ms; state in ${statePath()}\n`);
}

interface TrafficLine {
  from: string;
  to: string;
  what: string;
  result: string;
  ok: boolean;
}

async function traffic(json: boolean): Promise<void> {
  const state = requireState();
  const layout = state.layout;
  const lines: TrafficLine[] = [];
  const pingLine = async (from: LabInstance, to: string, what: string): Promise<void> => {
    const r = await ping(from, to, 3);
    lines.push({ from: from.label, to, what: `ping ${what}`, result: `${r.received}/${r.transmitted}`, ok: r.received === r.transmitted });
  };
  for (const vm of layout.instances) {
    await pingLine(vm, layout.dhcp.ip, 'dhcp port');
    await pingLine(vm, layout.router.qr.ip, 'router qr');
    await pingLine(vm, layout.external.ip, 'external (SNAT)');
    for (const other of layout.instances) if (other !== vm) await pingLine(vm, other.ip, other.label);
    const d = await dhcpRequest(vm);
    lines.push({ from: vm.label, to: '255.255.255.255', what: 'dhcp', result: d.acked ? `ACK ${d.offered ?? '?'} from ${d.server ?? '?'}` : `no ACK (${d.error ?? 'none'})`, ok: d.acked });
    const a = await arping(vm, layout.router.qr.ip, 2);
    lines.push({ from: vm.label, to: layout.router.qr.ip, what: 'arping router', result: `${a.replies.length}/${a.sent}`, ok: a.replies.length === a.sent });
  }
  print(json, lines, lines.map((l) => `${l.ok ? 'ok  ' : 'FAIL'} ${l.from} -> ${l.to.padEnd(15)} ${l.what.padEnd(22)} ${l.result}`).join('\n'));
  if (lines.some((l) => !l.ok) && state.breaks.length === 0) process.exitCode = 1;
}

/** What `hoptrace agent --collector URL` would send from each host: its snapshot, POSTed to a running service. */
async function shipSnapshots(url: string, token: string | undefined, json: boolean): Promise<void> {
  const state = requireState();
  const lab = attachLab(state);
  const sink = new HttpSink({ url, ...(token === undefined ? {} : { token }) });
  const results = [];
  for (const host of state.layout.hosts) {
    const source = sosSource(lab, host.label);
    const own = new Set(source.namespaces);
    const snap = await collectSnapshot({ host: host.label, netns: host.netns, ovsRundir: host.dir, namespaceFilter: (ns) => own.has(ns) });
    const shipped = await sink.ship(snap);
    results.push({ host: host.label, takenAt: snap.takenAt, delivered: shipped.delivered });
  }
  await sink.close();
  print(json, results, results.map((r) => `${r.host}: snapshot of ${r.takenAt} ${r.delivered ? `sent to ${sink.url}` : `NOT delivered to ${sink.url} (is hoptrace serve running there? see its log)`}`).join('\n'));
  if (results.some((r) => !r.delivered)) process.exitCode = 1;
}

async function snapshot(out: string, json: boolean): Promise<void> {
  const state = requireState();
  const lab = attachLab(state);
  const results = [];
  for (const host of state.layout.hosts) {
    const dir = join(resolve(out), host.label);
    const result = await sosTree(sosSource(lab, host.label), dir);
    results.push({ host: host.label, root: dir, files: result.written.length, skipped: result.skipped });
  }
  print(json, results, results.map((r) => `${r.host}: ${r.files} files in ${r.root}${r.skipped.length === 0 ? '' : ` (skipped: ${r.skipped.map((s) => `${s.id}: ${s.reason}`).join('; ')})`}`).join('\n'));
}

async function breakCommand(scenario: string | undefined, options: { instance?: string; list?: boolean; repair?: boolean }): Promise<void> {
  if (options.list === true || scenario === undefined) {
    const state = readState();
    process.stdout.write(BREAK_SCENARIOS.map((s) => (state === undefined ? s : `${s.padEnd(20)} ${describeBreak(state.layout, s, opt(options.instance)).change}`)).join('\n') + '\n');
    return;
  }
  if (!isBreakScenario(scenario)) throw new CliError(`unknown scenario ${scenario}; one of: ${BREAK_SCENARIOS.join(', ')}`);
  const state = requireState();
  const lab = attachLab(state);
  if (options.repair === true) {
    await repairLab(lab, scenario, opt(options.instance));
    state.breaks = state.breaks.filter((b) => b.scenario !== scenario);
    process.stdout.write(`repaired ${scenario}\n`);
  } else {
    const info = await breakLab(lab, scenario, opt(options.instance));
    state.breaks.push({ scenario, instance: info.instance });
    process.stdout.write(`${scenario}: ${info.change}\nbreaks: ${info.instance} ${info.breaks.kind === 'ping' ? `ping ${info.breaks.target}` : 'DHCP'}; undo with \`npm run lab break ${scenario} -- --repair${options.instance === undefined ? '' : ` --instance ${options.instance}`}\`\n`);
  }
  state.layout = layoutOf(lab); // dnsmasq pid may have changed
  writeState(state);
}

function opt(instance: string | undefined): { instance?: string } {
  return instance === undefined ? {} : { instance };
}

async function status(json: boolean): Promise<void> {
  const state = requireState();
  const live = await liveness(state);
  const data = { state: statePath(), createdAt: state.createdAt, layout: state.layout, live, breaks: state.breaks };
  const down = live.daemons.filter((d) => !d.running).map((d) => `${d.host} ${d.name}`);
  const missing = live.namespaces.filter((n) => !n.present).map((n) => n.name);
  const text = [
    describeLayout(state.layout),
    `daemons: ${live.daemons.length - down.length}/${live.daemons.length} running${down.length === 0 ? '' : ` (down: ${down.join(', ')})`}; dnsmasq ${live.dnsmasq ? 'running' : 'not running'}`,
    `namespaces: ${live.namespaces.length - missing.length}/${live.namespaces.length} present${missing.length === 0 ? '' : ` (missing: ${missing.join(', ')})`}`,
    `breaks in effect: ${state.breaks.length === 0 ? 'none' : state.breaks.map((b: { scenario: BreakScenario; instance: string }) => `${b.scenario} (${b.instance})`).join(', ')}`,
  ].join('\n');
  print(json, data, text);
}

async function execCommand(where: string, argv: string[]): Promise<void> {
  const state = requireState();
  const layout = state.layout;
  const host = layout.hosts.find((h) => h.label === where);
  const named: Record<string, string> = { dhcp: layout.dhcp.namespace, router: layout.router.namespace, ext: layout.external.namespace, underlay: layout.underlay.namespace };
  const netns = host?.netns ?? layout.instances.find((i) => i.label === where)?.netns ?? named[where];
  if (netns === undefined) throw new CliError(`no namespace ${where}: one of ${[...layout.hosts.map((h) => h.label), ...layout.instances.map((i) => i.label), ...Object.keys(named)].join(', ')}`);
  if (argv.length === 0) throw new CliError('no command given');
  const env = host === undefined ? {} : { OVS_RUNDIR: host.dir, OVS_LOGDIR: host.dir, OVS_DBDIR: host.dir, OVS_SYSCONFDIR: host.dir };
  const child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: 'inherit', env: { ...process.env, ...env } });
  process.exitCode = await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function downCommand(): Promise<void> {
  const state = readState();
  if (state === undefined) {
    process.stdout.write(`no lab is up (${statePath()} not found)\n`);
    return;
  }
  const done = await destroyFromState(state);
  process.stdout.write(`ended ${done.length} things of lab ${state.layout.id}:\n${done.map((d) => `  ${d}`).join('\n')}\n`);
}

const program = new Command('lab')
  .description('A Neutron ML2/OVS lab in network namespaces (GRE or VXLAN, hybrid firewall, qdhcp, qrouter, sFlow on every bridge)')
  .enablePositionalOptions()
  .showHelpAfterError();

program
  .command('up')
  .description('build the lab and leave it running')
  .option('--collector <address:port>', 'sFlow collector; ":PORT" means that port on the lab management address', ':6343')
  .option('--sampling <n>', 'sFlow sampling rate (1 in N)', positiveInt, 1)
  .option('--polling <s>', 'sFlow counter polling interval, seconds', positiveInt, 10)
  .option('--compute-hosts <n>', 'compute hosts: 1 or 2', positiveInt, 1)
  .option('--tunnel <type>', 'tenant network type: gre or vxlan', 'gre')
  .addHelpText('after', '\nExamples:\n  npm run lab up\n  npm run lab up -- --collector :6343 --sampling 1 --compute-hosts 2\n  npm run lab up -- --tunnel vxlan')
  .action(up);
program
  .command('traffic')
  .description('ping dhcp/router/external/other instances, a DHCP exchange and arping from every instance')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) => traffic(o.json === true));
program
  .command('snapshot')
  .description('write a sosreport-layout tree per host (--out), or send each host\'s snapshot to a running hoptrace serve (--collector), as agents do')
  .option('--out <dir>', 'output directory (one subdirectory per host)')
  .option('--collector <url>', 'hoptrace serve\'s HTTP address (POST /v1/snapshots), e.g. http://127.0.0.1:8080')
  .option('--token <token>', 'bearer token (http.snapshotTokens; not needed when the service listens on loopback)')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExamples:\n  npm run lab snapshot -- --out /tmp/sos\n  npm run lab snapshot -- --collector http://127.0.0.1:8080')
  .action(async (o: { out?: string; collector?: string; token?: string; json?: boolean }) => {
    if ((o.out === undefined) === (o.collector === undefined)) throw new CliError('give --out DIR or --collector URL');
    if (o.collector !== undefined) await shipSnapshots(o.collector, o.token, o.json === true);
    else await snapshot(o.out ?? '', o.json === true);
  });
program
  .command('break [scenario]')
  .description(`break the lab on purpose (${BREAK_SCENARIOS.join(', ')}); without a scenario, list them`)
  .option('--instance <label>', 'the instance whose traffic breaks (default vm1)')
  .option('--repair', 'undo the scenario')
  .option('--list', 'list the scenarios')
  .addHelpText('after', '\nExamples:\n  npm run lab break tun-to-vlan-removed\n  npm run lab break tun-to-vlan-removed -- --repair')
  .action(breakCommand);
program
  .command('status')
  .description('what is up, what runs, what is broken')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) => status(o.json === true));
program
  .command('exec <where> [argv...]')
  .description('run a command in a lab namespace: a host (with its OVS_RUNDIR), an instance, dhcp, router or ext')
  .passThroughOptions()
  .addHelpText('after', '\nExamples:\n  npm run lab exec compute1 -- ovs-ofctl dump-flows br-tun\n  npm run lab exec vm1 -- ping -c 3 203.0.113.193')
  .action(execCommand);
program.command('down').description('end every process, namespace, link and directory of the lab').action(downCommand);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`lab: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
