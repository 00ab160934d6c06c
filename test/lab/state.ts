// The state file of a CLI lab (one that outlives `npm run lab up`): the layout and everything to
// end later — daemon pids (checked against /proc before any signal), namespaces, root links, dirs.
// `down` ends exactly those and nothing else.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, OvsHost } from '../support/ovs-lab.js';
import { exec, listNetns } from '../support/netns.js';
import { isOurs, stopDnsmasq, type HostLabel, type NeutronLabLayout } from './neutron-lab.js';
import type { LabAccess } from './break.js';
import type { BreakScenario } from './break.js';

export const STATE_VERSION = 1;

export interface LabDaemon {
  host: HostLabel;
  name: 'ovsdb-server' | 'ovs-vswitchd';
  pid: number;
}

export interface NeutronLabState {
  version: typeof STATE_VERSION;
  createdAt: string;
  /** The pid of the `up` process (gone once it exited: that is expected). */
  createdBy: number;
  linkPrefix: string;
  layout: NeutronLabLayout;
  daemons: LabDaemon[];
  /** Scenarios broken with `break` and not repaired yet. */
  breaks: { scenario: BreakScenario; instance: string }[];
}

/** $TMPDIR/hoptrace-lab (or HOPTRACE_LAB_STATE_DIR). */
export function stateDir(): string {
  return process.env['HOPTRACE_LAB_STATE_DIR'] ?? join(tmpdir(), 'hoptrace-lab');
}

export function statePath(): string {
  return join(stateDir(), 'state.json');
}

export function readState(path = statePath()): NeutronLabState | undefined {
  if (!existsSync(path)) return undefined;
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as NeutronLabState;
  if (parsed.version !== STATE_VERSION) throw new Error(`${path}: state version ${String(parsed.version)}, this code reads ${STATE_VERSION}`);
  return parsed;
}

export function writeState(state: NeutronLabState, path = statePath()): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Only the data of a lab (no functions, sockets or daemons): what a state file keeps. */
export function layoutOf(lab: NeutronLabLayout): NeutronLabLayout {
  const { id, labDir, stateDir: dir, persistent, mgmt, sflow, network, hosts, instances, dhcp, router, external, underlay, namespaces, rootLinks, timings } = lab;
  return structuredClone({ id, labDir, stateDir: dir, persistent, mgmt, sflow, network, hosts, instances, dhcp, router, external, underlay, namespaces, rootLinks, timings });
}

/** The pids of the hosts' OVS daemons, from their pidfiles. */
export function daemonsOf(layout: NeutronLabLayout): LabDaemon[] {
  const daemons: LabDaemon[] = [];
  for (const host of layout.hosts) {
    for (const name of ['ovsdb-server', 'ovs-vswitchd'] as const) {
      const pidfile = join(host.dir, `${name}.pid`);
      if (existsSync(pidfile)) daemons.push({ host: host.label, name, pid: Number(readFileSync(pidfile, 'utf8').trim()) });
    }
  }
  return daemons;
}

/** A handle on a lab another process built: ovs-vsctl/ofctl/appctl bound to each host. */
export function attachLab(state: NeutronLabState): LabAccess {
  const layout = state.layout;
  const base = new Lab(layout.id, 0, layout.labDir, true, state.linkPrefix);
  const hosts = new Map<HostLabel, OvsHost>();
  for (const host of layout.hosts) hosts.set(host.label, new OvsHost(base, host.label, host.netns, host.dir, host.mgmtAddress));
  return Object.assign(layout, {
    ovs(label: HostLabel): OvsHost {
      const host = hosts.get(label);
      if (host === undefined) throw new Error(`lab ${layout.id}: no host ${label}`);
      return host;
    },
  });
}

/** What is still running or present of a lab. */
export async function liveness(state: NeutronLabState): Promise<{ daemons: (LabDaemon & { running: boolean })[]; dnsmasq: boolean; namespaces: { name: string; present: boolean }[] }> {
  const present = new Set(await listNetns());
  return {
    daemons: state.daemons.map((d) => ({ ...d, running: isOurs(d.pid, d.name, state.layout.labDir) })),
    dnsmasq: state.layout.dhcp.pid > 0 && isOurs(state.layout.dhcp.pid, 'dnsmasq', state.layout.dhcp.dir),
    namespaces: state.layout.namespaces.map((name) => ({ name, present: present.has(name) })),
  };
}

/**
 * Ends a lab from its state: dnsmasq and the OVS daemons by pid (each only while /proc shows that
 * program on this lab's files), then its namespaces, its root-namespace links and its directories.
 */
export async function destroyFromState(state: NeutronLabState, path = statePath()): Promise<string[]> {
  const done: string[] = [];
  const layout = state.layout;
  await stopDnsmasq(layout);
  for (const daemon of [...state.daemons].reverse()) {
    if (!isOurs(daemon.pid, daemon.name, layout.labDir)) continue;
    process.kill(daemon.pid, 'SIGTERM');
    for (let i = 0; i < 50 && isOurs(daemon.pid, daemon.name, layout.labDir); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    if (isOurs(daemon.pid, daemon.name, layout.labDir)) process.kill(daemon.pid, 'SIGKILL');
    done.push(`${daemon.host} ${daemon.name} ${daemon.pid}`);
  }
  const present = new Set(await listNetns());
  for (const name of [...layout.namespaces].reverse()) {
    if (!present.has(name)) continue;
    await exec(null, ['ip', 'netns', 'delete', name], { okCodes: [0, 1] });
    done.push(`netns ${name}`);
  }
  for (const link of [...layout.rootLinks].sort((a, b) => b.length - a.length)) {
    const result = await exec(null, ['ip', 'link', 'delete', link], { okCodes: [0, 1] });
    if (result.code === 0) done.push(`link ${link}`);
  }
  for (const dir of [layout.labDir, layout.stateDir]) rmSync(dir, { recursive: true, force: true });
  rmSync(path, { force: true });
  return done;
}
