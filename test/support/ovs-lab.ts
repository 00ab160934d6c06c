// A lab of real Open vSwitch "hosts" for integration tests: each host is a network namespace with
// its own ovsdb-server and ovs-vswitchd (userspace datapath: bridges are datapath_type=netdev, no
// kernel module), its own run/db/log directory, and ovs-vsctl/ovs-ofctl/ovs-appctl bound to its
// sockets. "Instances" (VMs) and qdhcp/qrouter-like namespaces hang off the hosts' bridges by veth.
//
//   root namespace                         host namespace ht-<pid>-<n>-<label>
//   ┌──────────────────────────────┐       ┌───────────────────────────────────────┐
//   │ bridge ht<pid>l<n>           │ veth  │ mgmt0 198.51.100.(16b+2+k)/28         │
//   │ 198.51.100.(16b+1)/28  ◀─────┼───────┼▶ ovsdb-server, ovs-vswitchd           │
//   │ SflowCollector (UDP socket)  │       │ br-int (netdev) ── tap1 ═veth═ eth0 ──┼─▶ instance ns
//   └──────────────────────────────┘       └───────────────────────────────────────┘
//
// The management network reaches the test process: the lab's bridge in the root namespace holds
// the collector address, and every host has `mgmt0` on the same /28, so sFlow (agent = mgmt0)
// and, later, the hoptrace agent reach sockets the test opens. Each lab takes a free /28 of
// 198.51.100.0/24, so labs of concurrent test runs do not collide.
//
// Teardown kills the daemons by pid, deletes the namespaces, the root-side links and the temp
// directory, also after a failed test (idempotent), and a process 'exit' hook does the same for
// labs a crashed test never tore down. Labs left by a killed test process (its pid gone) are
// swept when the next lab is created.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  addNetns,
  addVeth,
  addLinuxBridge,
  CommandError,
  deleteNetns,
  disableTxOffload,
  exec,
  ipIn,
  linkInfo,
  listNetns,
  run,
  runSyncQuietly,
  waitFor,
  type ExecOptions,
  type ExecResult,
  type Netns,
  type WaitOptions,
} from './netns.js';

export const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** Commands a lab runs, and the Debian package of each (for skip notes and CI). */
export const LAB_COMMANDS = [
  ['ovs-vswitchd', 'openvswitch-switch'],
  ['ovs-vsctl', 'openvswitch-switch'],
  ['ovsdb-server', 'openvswitch-common'],
  ['ovsdb-tool', 'openvswitch-common'],
  ['ovs-ofctl', 'openvswitch-common'],
  ['ovs-appctl', 'openvswitch-common'],
  ['ip', 'iproute2'],
  ['ping', 'iputils-ping'],
  ['sysctl', 'procps'],
  ['ethtool', 'ethtool'],
] as const;

const MGMT_PREFIX = '198.51.100'; // TEST-NET-2, split into 16 blocks of /28, one per lab
const MGMT_PREFIX_LENGTH = 28;
const MGMT_BLOCKS = 16;
const MAX_HOSTS_PER_LAB = 13; // .2 to .14 of the /28 (.1 is the root side, .15 broadcast)
const IFNAMSIZ = 15;
const LAB_NAME = /^ht-(\d+)-\d+/; // namespaces and temp dirs carry the owner's pid
const ROOT_LINK = /^ht(\d+)l\d+/;
const DIR_PREFIX = 'hoptrace-lab-';

let labCounter = 0;
const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

/**
 * Why a lab cannot run here (a skip note with the fix), or undefined when it can: root, the
 * commands of LAB_COMMANDS, the OVSDB schema, /dev/net/tun (netdev internal ports are taps), and
 * the right to create a namespace.
 */
export async function probeOvsLab(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `needs Linux network namespaces (platform ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (run the integration tests as root)';
  const missing = LAB_COMMANDS.filter(([command]) => findCommand(command) === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
    return `${missing.map(([c]) => c).join(', ')} not found: apt-get install ${packages}`;
  }
  if (!existsSync(OVS_SCHEMA)) return `${OVS_SCHEMA} not found: apt-get install openvswitch-switch`;
  try {
    await access('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch (error) {
    return `/dev/net/tun not usable (${error instanceof Error ? error.message : String(error)}): the userspace datapath needs tap devices`;
  }
  const name = `ht-${process.pid}-probe`;
  try {
    await run(null, ['ip', 'netns', 'add', name]);
    await run(null, ['ip', 'netns', 'delete', name]);
  } catch (error) {
    if (error instanceof CommandError) return `cannot create a network namespace: ${error.stderr.trim() || error.message}`;
    throw error;
  }
  return undefined;
}

/** The absolute path of `command` on PATH, or undefined. */
export function findCommand(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, command);
    if (existsSync(path)) return path;
  }
  return undefined;
}

export interface LabOptions {
  /** Keep namespaces, daemons and files after teardown (debugging a lab by hand). */
  keep?: boolean;
  /**
   * A lab that outlives this process (`npm run lab up`): named by the caller (so the sweep of dead
   * test processes' labs never matches it), daemons detached in their own session with stderr to a
   * file in their host dir, no exit or signal hook. Whoever creates it records what to end later.
   */
  persistent?: PersistentLabNames;
}

export interface PersistentLabNames {
  /** Namespace and temp-dir prefix, [a-z0-9-], not of the form ht-<digits>-<digits>. */
  id: string;
  /** Root-namespace link prefix (the management bridge; host links add h<k>), at most 11 characters, not ht<digits>l<digits>. */
  linkPrefix: string;
}

/** Creates an empty lab: its temp dir and its management bridge (with the collector address) in the root namespace. */
export async function createLab(options: LabOptions = {}): Promise<Lab> {
  await sweepStaleLabs();
  const n = labCounter++;
  const persistent = options.persistent;
  if (persistent !== undefined) checkPersistentNames(persistent);
  const id = persistent?.id ?? `ht-${process.pid}-${n}`;
  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${id}-`));
  const lab = new Lab(id, n, dir, options.keep === true, persistent?.linkPrefix);
  if (persistent === undefined) {
    liveLabs.add(lab);
    installExitHook();
  }
  try {
    await lab.setUpManagement();
  } catch (error) {
    await lab.teardown().catch(() => undefined);
    throw error;
  }
  return lab;
}

/** A daemon this lab started: ended by this pid only. */
interface Daemon {
  name: 'ovsdb-server' | 'ovs-vswitchd';
  pid: number;
  child: ChildProcess;
  /** Set once the process is gone. */
  exit: { code: number | null; signal: string | null } | undefined;
  exited: Promise<void>;
  /** The last few KiB of its stderr (console log at level err, `ip netns exec` errors). */
  stderr: () => string;
}

export class Lab {
  readonly id: string;
  readonly dir: string;
  readonly keep: boolean;
  /** Root-namespace Linux bridge of the management network. */
  readonly mgmtBridge: string;
  /** The management /28 (e.g. 198.51.100.16/28), set up by createLab. */
  mgmtNetwork = '';
  /** The root-namespace address on the management network: bind collectors here. */
  collectorAddress = '';
  readonly hosts: OvsHost[] = [];
  /** Every namespace this lab created (hosts first), deleted in reverse order. */
  readonly namespaces: string[] = [];
  readonly collectors: SflowCollector[] = [];
  /** True for a lab made with `persistent`: detached daemons, no exit hook. */
  readonly persistent: boolean;
  /** Root-namespace links are named from this prefix (the bridge is the prefix itself). */
  readonly linkPrefix: string;
  readonly #n: number;
  #block = -1;
  #hostSlots = 0;
  #tornDown = false;

  constructor(id: string, n: number, dir: string, keep: boolean, linkPrefix?: string) {
    this.id = id;
    this.dir = dir;
    this.keep = keep;
    this.#n = n;
    this.persistent = linkPrefix !== undefined;
    this.linkPrefix = linkPrefix ?? `ht${process.pid}l${n}`;
    this.mgmtBridge = rootLinkName(this.linkPrefix, 'b', 0);
  }

  /** @internal createLab's second half: a free /28 and the root-side bridge holding its first address. */
  async setUpManagement(): Promise<void> {
    await addLinuxBridge(null, this.mgmtBridge);
    const start = (process.pid + this.#n) % MGMT_BLOCKS;
    for (let i = 0; i < MGMT_BLOCKS; i++) {
      const block = (start + i) % MGMT_BLOCKS;
      if ((await usedMgmtBlocks()).has(block)) continue;
      const address = `${MGMT_PREFIX}.${block * 16 + 1}`;
      await run(null, ['ip', 'address', 'add', `${address}/${MGMT_PREFIX_LENGTH}`, 'dev', this.mgmtBridge]);
      // Another lab may have taken the same block between our look and our claim: the later one moves on.
      const holders = await mgmtBlockHolders(block);
      if (holders.length === 1 && holders[0] === this.mgmtBridge) {
        this.#block = block;
        this.collectorAddress = address;
        this.mgmtNetwork = `${MGMT_PREFIX}.${block * 16}/${MGMT_PREFIX_LENGTH}`;
        return;
      }
      await run(null, ['ip', 'address', 'delete', `${address}/${MGMT_PREFIX_LENGTH}`, 'dev', this.mgmtBridge]);
    }
    throw new Error(`no free /${MGMT_PREFIX_LENGTH} left in ${MGMT_PREFIX}.0/24 for lab ${this.id} (other labs or addresses use them all)`);
  }

  /** A namespace owned by the lab (an instance, a qdhcp/qrouter stand-in); returns its name. */
  async addNamespace(label: string, options: { ipv6?: boolean } = {}): Promise<string> {
    this.#assertOpen();
    const name = `${this.id}-${checkLabel(label)}`;
    if (this.namespaces.includes(name)) throw new Error(`lab ${this.id}: namespace ${label} exists already`);
    await addNetns(name, options);
    this.namespaces.push(name);
    return name;
  }

  /** A host: a namespace with mgmt0 on the management network and its own ovsdb-server + ovs-vswitchd. */
  async addHost(label: string): Promise<OvsHost> {
    this.#assertOpen();
    // Slots are taken before the first await, so hosts can be added concurrently.
    const k = this.#hostSlots;
    if (k >= MAX_HOSTS_PER_LAB) throw new Error(`lab ${this.id}: at most ${MAX_HOSTS_PER_LAB} hosts`);
    this.#hostSlots++;
    const netns = await this.addNamespace(label);
    const mgmtAddress = `${MGMT_PREFIX}.${this.#block * 16 + 2 + k}`;
    await addVeth(
      { netns: null, name: rootLinkName(this.linkPrefix, 'h', k), master: this.mgmtBridge },
      { netns, name: MGMT_DEVICE, addresses: [`${mgmtAddress}/${MGMT_PREFIX_LENGTH}`] },
    );
    const host = new OvsHost(this, label, netns, join(this.dir, checkLabel(label)), mgmtAddress);
    this.hosts.push(host);
    await host.start();
    return host;
  }

  /**
   * A VM stand-in: a namespace whose eth0 (given MAC and address) is the peer of `port` in the
   * host namespace, and `port` is added to `bridge` (an access port when `tag` is set).
   */
  async addInstance(label: string, spec: InstanceSpec): Promise<Instance> {
    const { host } = spec;
    const netns = await this.addNamespace(label);
    await addVeth(
      { netns: host.netns, name: spec.port, ...(spec.mtu === undefined ? {} : { mtu: spec.mtu }) },
      { netns, name: 'eth0', mac: spec.mac, addresses: [spec.address], ...(spec.mtu === undefined ? {} : { mtu: spec.mtu }) },
    );
    if (spec.txChecksumOffload !== true) await disableTxOffload(netns, 'eth0');
    if (spec.gateway !== undefined) await run(null, [...ipIn(netns), 'route', 'add', 'default', 'via', spec.gateway]);
    if (spec.bridge !== undefined) {
      await addPort(host, spec.bridge, spec.port, {
        ...(spec.tag === undefined ? {} : { tag: spec.tag }),
        ...(spec.externalIds === undefined ? {} : { externalIds: spec.externalIds }),
      });
    }
    const slash = spec.address.indexOf('/');
    return {
      label,
      netns,
      host,
      port: spec.port,
      bridge: spec.bridge,
      tag: spec.tag,
      mac: spec.mac.toLowerCase(),
      ip: slash < 0 ? spec.address : spec.address.slice(0, slash),
      hostIfIndex: (await linkInfo(host.netns, spec.port)).ifIndex,
    };
  }

  /** A UDP socket in this process, bound to the collector address on an ephemeral port. */
  async openCollector(): Promise<SflowCollector> {
    this.#assertOpen();
    const collector = await SflowCollector.open(this.collectorAddress);
    this.collectors.push(collector);
    return collector;
  }

  /**
   * Ends everything the lab started: daemons (by pid: SIGTERM, then SIGKILL), namespaces, root-side
   * links, collectors, the temp dir. Safe to call twice and after a partial setup; collects errors
   * and throws them together after doing all it can.
   */
  async teardown(): Promise<void> {
    if (this.#tornDown) return;
    this.#tornDown = true;
    liveLabs.delete(this);
    releaseSignalHooks();
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<void>): Promise<void> => {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    };
    for (const collector of this.collectors) await attempt(() => collector.close());
    if (this.keep) return;
    for (const host of [...this.hosts].reverse()) await attempt(() => host.stop());
    for (const name of [...this.namespaces].reverse()) await attempt(() => deleteNetns(name));
    await attempt(async () => {
      const out = await run(null, ['ip', '-o', 'link', 'show']);
      for (const name of rootLinksOf(out, this.linkPrefix)) {
        await exec(null, ['ip', 'link', 'delete', name], { okCodes: [0, 1] }); // 1: gone with its peer meanwhile
      }
    });
    await attempt(async () => rmSync(this.dir, { recursive: true, force: true }));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `lab ${this.id}: ${errors.length} teardown steps failed`);
  }

  /** Synchronous teardown for process exit: SIGKILL by pid, delete namespaces and links, remove the dir. */
  teardownSync(): void {
    if (this.#tornDown) return;
    this.#tornDown = true;
    liveLabs.delete(this);
    releaseSignalHooks();
    if (this.keep) return;
    for (const host of this.hosts) host.killSync();
    for (const name of [...this.namespaces].reverse()) runSyncQuietly(['ip', 'netns', 'delete', name]);
    runSyncQuietly(['ip', 'link', 'delete', this.mgmtBridge]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  get tornDown(): boolean {
    return this.#tornDown;
  }

  #assertOpen(): void {
    if (this.#tornDown) throw new Error(`lab ${this.id} is torn down`);
  }
}

export const MGMT_DEVICE = 'mgmt0';

export interface InstanceSpec {
  host: OvsHost;
  /** The host-side end of the veth (tap/qvo name), added to `bridge` when one is given. */
  port: string;
  bridge?: string;
  /** Access VLAN of the OVS port. */
  tag?: number;
  /** eth0's address with prefix length, TEST-NET only (e.g. "192.0.2.11/24"). */
  address: string;
  mac: string;
  gateway?: string;
  mtu?: number;
  externalIds?: Record<string, string>;
  /** Keep eth0's TX checksum offload (default off: see disableTxOffload; TCP/UDP need it off). */
  txChecksumOffload?: boolean;
}

export interface Instance {
  label: string;
  netns: string;
  host: OvsHost;
  port: string;
  bridge: string | undefined;
  tag: number | undefined;
  /** eth0's MAC, lower case. */
  mac: string;
  /** eth0's address without prefix length. */
  ip: string;
  /** ifIndex of `port` in the host namespace (what sFlow reports as input/output). */
  hostIfIndex: number;
}

/** One host: a namespace and its own OVS daemons, with tools bound to their sockets. */
export class OvsHost {
  readonly lab: Lab;
  readonly label: string;
  readonly netns: string;
  /** Run, database and log directory of this host's OVS (OVS_RUNDIR etc.). */
  readonly dir: string;
  /** mgmt0's address: the sFlow agent address when agent=mgmt0. */
  readonly mgmtAddress: string;
  readonly mgmtDevice = MGMT_DEVICE;
  readonly database: string;
  readonly dbSocket: string;
  readonly ovsdbControl: string;
  readonly vswitchdControl: string;
  readonly daemons: Daemon[] = [];

  constructor(lab: Lab, label: string, netns: string, dir: string, mgmtAddress: string) {
    this.lab = lab;
    this.label = label;
    this.netns = netns;
    this.dir = dir;
    this.mgmtAddress = mgmtAddress;
    this.database = join(dir, 'conf.db');
    this.dbSocket = join(dir, 'db.sock');
    this.ovsdbControl = join(dir, 'ovsdb-server.ctl');
    this.vswitchdControl = join(dir, 'ovs-vswitchd.ctl');
  }

  /** OVS tools find bridge sockets (BR.mgmt) and pidfiles through these. */
  get env(): Record<string, string> {
    return { OVS_RUNDIR: this.dir, OVS_LOGDIR: this.dir, OVS_DBDIR: this.dir, OVS_SYSCONFDIR: this.dir };
  }

  /** @internal Lab.addHost: database, ovsdb-server, ovs-vswitchd, each waited on until it answers. */
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await run(null, ['ovsdb-tool', 'create', this.database, OVS_SCHEMA]);
    await this.#spawnDaemon('ovsdb-server', [
      this.database,
      `--remote=punix:${this.dbSocket}`,
      `--unixctl=${this.ovsdbControl}`,
      `--pidfile=${join(this.dir, 'ovsdb-server.pid')}`,
      `--log-file=${join(this.dir, 'ovsdb-server.log')}`,
      '-vconsole:err',
      '-vsyslog:off',
    ], this.ovsdbControl);
    await this.vsctl(['--no-wait', 'init']);
    await this.#spawnDaemon('ovs-vswitchd', [
      `unix:${this.dbSocket}`,
      `--unixctl=${this.vswitchdControl}`,
      `--pidfile=${join(this.dir, 'ovs-vswitchd.pid')}`,
      `--log-file=${join(this.dir, 'ovs-vswitchd.log')}`,
      '-vconsole:err',
      '-vsyslog:off',
    ], this.vswitchdControl);
    // Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied the change (cur_cfg =
    // next_cfg): the daemon has done its first configuration pass.
    await this.vsctl([
      'set', 'Open_vSwitch', '.',
      `external_ids:system-id=${this.lab.id}-${this.label}`,
      `external_ids:hostname=${this.label}`,
    ]);
  }

  async #spawnDaemon(name: Daemon['name'], args: string[], control: string): Promise<void> {
    // A persistent lab's daemons run in their own session with stderr in a file: they outlive us.
    const stderrFile = join(this.dir, `${name}.stderr`);
    const stderrFd = this.lab.persistent ? openSync(stderrFile, 'a') : undefined;
    const child = spawn('ip', ['netns', 'exec', this.netns, name, ...args], {
      stdio: ['ignore', 'ignore', stderrFd ?? 'pipe'],
      env: { ...process.env, ...this.env },
      detached: stderrFd !== undefined,
    });
    if (stderrFd !== undefined) {
      closeSync(stderrFd);
      child.unref();
    }
    let tail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4096);
    });
    const daemon: Daemon = {
      name,
      pid: child.pid ?? -1,
      child,
      exit: undefined,
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          daemon.exit = { code, signal };
          resolve();
        });
        child.once('error', (error) => {
          daemon.exit = { code: null, signal: null };
          tail += `\n${error.message}`;
          resolve();
        });
      }),
      stderr: () => (stderrFd === undefined ? tail : readIfExists(stderrFile).slice(-4096)),
    };
    this.daemons.push(daemon);
    // `ip netns exec` execs the daemon in place: the child's pid is the daemon's.
    const state = await waitFor(`${name} of host ${this.label} to answer on ${control}`, async () => {
      if (daemon.exit !== undefined) return 'exited' as const;
      await exec(null, ['ovs-appctl', `--target=${control}`, '--timeout=2', 'version'], { env: this.env });
      return 'ready' as const;
    }, { timeoutMs: 20_000, intervalMs: 50 }).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${this.logTail(name)}`, { cause: error });
    });
    if (state === 'exited' || daemon.exit !== undefined) {
      throw new DaemonExitedError(name, this.label, daemon.exit ?? { code: null, signal: null }, daemon.stderr(), this.logTail(name));
    }
  }

  /** The end of a daemon's log file, for error messages. */
  logTail(name: Daemon['name'], lines = 20): string {
    const path = join(this.dir, `${name}.log`);
    if (!existsSync(path)) return `(${path} not written)`;
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** ovs-vsctl on this host's database; returns stdout. */
  vsctl(args: readonly string[], options: ExecOptions = {}): Promise<string> {
    return run(null, ['ovs-vsctl', `--db=unix:${this.dbSocket}`, '--timeout=20', ...args], { ...options, env: { ...this.env, ...options.env } });
  }

  /** ovs-ofctl; a bridge name resolves to this host's BR.mgmt socket (OVS_RUNDIR). */
  ofctl(args: readonly string[], options: ExecOptions = {}): Promise<string> {
    return run(null, ['ovs-ofctl', ...args], { ...options, env: { ...this.env, ...options.env } });
  }

  /** ovs-appctl to this host's ovs-vswitchd (or `target`: 'ovsdb-server'). */
  appctl(args: readonly string[], options: ExecOptions & { target?: Daemon['name'] } = {}): Promise<string> {
    const control = options.target === 'ovsdb-server' ? this.ovsdbControl : this.vswitchdControl;
    return run(null, ['ovs-appctl', `--target=${control}`, '--timeout=20', ...args], { ...options, env: { ...this.env, ...options.env } });
  }

  /** Any command inside this host's namespace. */
  exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return exec(this.netns, argv, options);
  }

  /** @internal Lab.teardown: ovs-vswitchd first (it holds ports), then ovsdb-server. */
  async stop(): Promise<void> {
    for (const daemon of [...this.daemons].reverse()) await stopDaemon(daemon);
  }

  /** @internal process exit: SIGKILL the daemons still running, by pid. */
  killSync(): void {
    for (const daemon of this.daemons) {
      if (daemon.exit !== undefined || daemon.pid <= 0) continue;
      try {
        process.kill(daemon.pid, 'SIGKILL');
      } catch (error) {
        if (!isNoSuchProcess(error)) throw error;
      }
    }
  }
}

export class DaemonExitedError extends Error {
  override readonly name = 'DaemonExitedError';
  constructor(daemon: string, host: string, exit: { code: number | null; signal: string | null }, stderr: string, log: string) {
    super(`${daemon} of host ${host} exited (${exit.code !== null ? `status ${exit.code}` : `signal ${exit.signal ?? '?'}`})\n${stderr.trim()}\n${log}`);
  }
}

async function stopDaemon(daemon: Daemon): Promise<void> {
  if (daemon.exit !== undefined || daemon.pid <= 0) return;
  daemon.child.kill('SIGTERM');
  const timer = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
  if ((await Promise.race([daemon.exited.then(() => 'exited' as const), timer(5_000)])) === 'exited') return;
  daemon.child.kill('SIGKILL');
  if ((await Promise.race([daemon.exited.then(() => 'exited' as const), timer(5_000)])) === 'timeout') {
    throw new Error(`${daemon.name} (pid ${daemon.pid}) did not exit after SIGKILL`);
  }
}

// ---------- building blocks on a host ----------

export interface BridgeOptions {
  /** 'netdev' (userspace, default: works without the kernel module) or 'system'. */
  datapathType?: 'netdev' | 'system';
  failMode?: 'standalone' | 'secure';
  /** e.g. "OpenFlow10,OpenFlow13". */
  protocols?: string;
  /** Fixed datapath id (16 hex digits), else OVS derives one from the MAC. */
  datapathId?: string;
  externalIds?: Record<string, string>;
}

export async function addBridge(host: OvsHost, name: string, options: BridgeOptions = {}): Promise<void> {
  const settings = [`datapath_type=${options.datapathType ?? 'netdev'}`];
  if (options.failMode !== undefined) settings.push(`fail_mode=${options.failMode}`);
  if (options.protocols !== undefined) settings.push(`protocols=${options.protocols}`);
  if (options.datapathId !== undefined) settings.push(`other_config:datapath-id=${options.datapathId}`);
  for (const [key, value] of Object.entries(options.externalIds ?? {})) settings.push(`external_ids:${key}=${ovsString(value)}`);
  await host.vsctl(['add-br', name, '--', 'set', 'Bridge', name, ...settings]);
}

export type PortType = 'system' | 'internal' | 'patch' | 'gre' | 'vxlan' | 'geneve';

export interface PortOptions {
  /** Access VLAN (the port's OVSDB tag). */
  tag?: number;
  trunks?: readonly number[];
  /** Interface type; default: a system (kernel) device of that name in the host namespace. */
  type?: PortType;
  /** Interface options: patch `peer`, tunnel `remote_ip`, `key`, `local_ip`... */
  options?: Record<string, string>;
  /** Interface external_ids (Neutron sets iface-id, attached-mac, iface-status, vm-uuid). */
  externalIds?: Record<string, string>;
  /** Request this OpenFlow port number. */
  ofport?: number;
}

export async function addPort(host: OvsHost, bridge: string, port: string, options: PortOptions = {}): Promise<void> {
  const portSettings: string[] = [];
  if (options.tag !== undefined) portSettings.push(`tag=${options.tag}`);
  if (options.trunks !== undefined) portSettings.push(`trunks=${options.trunks.join(',')}`);
  const ifaceSettings: string[] = [];
  if (options.type !== undefined && options.type !== 'system') ifaceSettings.push(`type=${options.type}`);
  for (const [key, value] of Object.entries(options.options ?? {})) ifaceSettings.push(`options:${key}=${ovsString(value)}`);
  for (const [key, value] of Object.entries(options.externalIds ?? {})) ifaceSettings.push(`external_ids:${key}=${ovsString(value)}`);
  if (options.ofport !== undefined) ifaceSettings.push(`ofport_request=${options.ofport}`);
  const args = ['add-port', bridge, port, ...portSettings];
  if (ifaceSettings.length > 0) args.push('--', 'set', 'Interface', port, ...ifaceSettings);
  await host.vsctl(args);
  // vsctl waited for ovs-vswitchd to reconfigure; a port it could not open shows an error here.
  const error = (await host.vsctl(['get', 'Interface', port, 'error'])).trim();
  if (error !== '[]' && error !== '') throw new Error(`host ${host.label}: port ${port} on ${bridge}: ${error}`);
}

export interface NamespacePortSpec {
  /** Access VLAN of the OVS port. */
  tag?: number;
  mac?: string;
  /** Addresses with prefix length (TEST-NET only). */
  addresses?: readonly string[];
  /** Interface external_ids (Neutron: iface-id, attached-mac, iface-status). */
  externalIds?: Record<string, string>;
}

/**
 * An OVS internal port moved into another namespace, as Neutron does with qdhcp's tap, qrouter's
 * qr-/qg- ports: the device lives in `netns`, OVS keeps it on `bridge`. Its OVSDB ifindex becomes 0
 * (it is not in the host namespace), which is what sFlow then reports for it.
 */
export async function addNamespacePort(host: OvsHost, bridge: string, port: string, netns: string, spec: NamespacePortSpec = {}): Promise<void> {
  await addPort(host, bridge, port, {
    type: 'internal',
    ...(spec.tag === undefined ? {} : { tag: spec.tag }),
    ...(spec.externalIds === undefined ? {} : { externalIds: spec.externalIds }),
  });
  await run(null, [...ipIn(host.netns), 'link', 'set', port, 'netns', netns]);
  if (spec.mac !== undefined) await run(null, [...ipIn(netns), 'link', 'set', port, 'address', spec.mac]);
  for (const address of spec.addresses ?? []) await run(null, [...ipIn(netns), 'address', 'add', address, 'dev', port]);
  await run(null, [...ipIn(netns), 'link', 'set', port, 'up']);
}

/** Two patch ports joining bridges `a` and `b` (br-int patch-tun <-> br-tun patch-int). */
export async function addPatchPair(host: OvsHost, a: { bridge: string; port: string }, b: { bridge: string; port: string }): Promise<void> {
  await host.vsctl([
    'add-port', a.bridge, a.port, '--', 'set', 'Interface', a.port, 'type=patch', `options:peer=${b.port}`,
    '--', 'add-port', b.bridge, b.port, '--', 'set', 'Interface', b.port, 'type=patch', `options:peer=${a.port}`,
  ]);
}

export interface SflowSettings {
  /** Collector "address:port" (one or several). */
  target: string | readonly string[];
  /** Device (or address) whose IPv4 address is the agent address; default the host's mgmt0. */
  agent?: string;
  /** Bytes of each sampled frame's header. */
  header?: number;
  /** 1 in N frames. */
  sampling?: number;
  /** Counter polling interval, seconds. */
  polling?: number;
  /** Bridges that share this sFlow row (default: every bridge of the host). */
  bridges?: readonly string[];
}

/** Creates one sFlow row and points the bridges at it; returns its UUID. */
export async function setSflow(host: OvsHost, settings: SflowSettings): Promise<string> {
  const targets = typeof settings.target === 'string' ? [settings.target] : [...settings.target];
  const bridges = settings.bridges ?? (await listBridges(host));
  if (bridges.length === 0) throw new Error(`host ${host.label}: setSflow with no bridge`);
  const columns = [`agent=${ovsString(settings.agent ?? host.mgmtDevice)}`, `targets=[${targets.map(ovsString).join(',')}]`];
  if (settings.header !== undefined) columns.push(`header=${settings.header}`);
  if (settings.sampling !== undefined) columns.push(`sampling=${settings.sampling}`);
  if (settings.polling !== undefined) columns.push(`polling=${settings.polling}`);
  const args = ['--', '--id=@s', 'create', 'sflow', ...columns];
  for (const bridge of bridges) args.push('--', 'set', 'Bridge', bridge, 'sflow=@s');
  return (await host.vsctl(args)).trim();
}

export async function clearSflow(host: OvsHost, bridge: string): Promise<void> {
  await host.vsctl(['clear', 'Bridge', bridge, 'sflow']);
}

export async function listBridges(host: OvsHost): Promise<string[]> {
  return lines(await host.vsctl(['list-br']));
}

export async function listPorts(host: OvsHost, bridge: string): Promise<string[]> {
  return lines(await host.vsctl(['list-ports', bridge]));
}

/** An interface's OpenFlow port number from OVSDB (-1 while it failed to open). */
export async function ofportOf(host: OvsHost, iface: string): Promise<number> {
  return Number((await host.vsctl(['get', 'Interface', iface, 'ofport'])).trim());
}

/**
 * Adds an OpenFlow rule and waits for a revalidation round, so datapath flows cached from the old
 * table no longer forward frames the new rule handles (else the next frames may still pass).
 */
export async function addFlow(host: OvsHost, bridge: string, flow: string): Promise<void> {
  await host.ofctl(['add-flow', bridge, flow]);
  await host.appctl(['revalidator/wait']);
}

/** Deletes OpenFlow rules (all, or those matching) and waits for a revalidation round. */
export async function deleteFlows(host: OvsHost, bridge: string, match?: string): Promise<void> {
  await host.ofctl(match === undefined ? ['del-flows', bridge] : ['del-flows', bridge, match]);
  await host.appctl(['revalidator/wait']);
}

export interface OfctlPort {
  /** OpenFlow port number; LOCAL is 0xfffe. */
  ofport: number;
  name: string;
  mac: string;
}

export interface OfctlShow {
  datapathId: bigint;
  ports: OfctlPort[];
}

/** OFPP_LOCAL in OpenFlow 1.0: the bridge's own internal port. */
export const OFPP_LOCAL = 0xfffe;

/** `ovs-ofctl show BRIDGE`: datapath id and ports (OpenFlow 1.0 output). */
export async function ofctlShow(host: OvsHost, bridge: string): Promise<OfctlShow> {
  const out = await host.ofctl(['show', bridge]);
  const dpid = /dpid:([0-9a-f]{16})/.exec(out);
  if (dpid === null) throw new Error(`ovs-ofctl show ${bridge} on ${host.label}: no dpid in\n${out}`);
  const ports: OfctlPort[] = [];
  for (const match of out.matchAll(/^ (\d+|LOCAL)\(([^)]+)\): addr:([0-9a-f:]{17})$/gm)) {
    const [, number, name, mac] = match;
    if (number === undefined || name === undefined || mac === undefined) continue;
    ports.push({ ofport: number === 'LOCAL' ? OFPP_LOCAL : Number(number), name, mac });
  }
  return { datapathId: BigInt(`0x${dpid[1] ?? ''}`), ports };
}

// ---------- the test's sFlow collector ----------

export interface CapturedDatagram {
  /** Receive time, ms since the epoch (with sub-ms precision from hrtime). */
  receivedAt: number;
  source: { address: string; port: number };
  destination: { address: string; port: number };
  payload: Buffer;
}

/** A UDP socket in the test process that keeps every datagram (and can write them as a pcap). */
export class SflowCollector {
  readonly address: string;
  readonly port: number;
  readonly datagrams: CapturedDatagram[] = [];
  readonly #socket: Socket;
  #closed = false;

  private constructor(socket: Socket, address: string, port: number) {
    this.#socket = socket;
    this.address = address;
    this.port = port;
    const origin = Date.now() - Number(process.hrtime.bigint() / 1000n) / 1000;
    socket.on('message', (payload, remote) => {
      this.datagrams.push({
        receivedAt: origin + Number(process.hrtime.bigint() / 1000n) / 1000,
        source: { address: remote.address, port: remote.port },
        destination: { address: this.address, port: this.port },
        payload,
      });
    });
  }

  static async open(address: string, port = 0): Promise<SflowCollector> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new SflowCollector(socket, address, socket.address().port);
  }

  /** "address:port", as OVS's sFlow targets column wants it. */
  get target(): string {
    return `${this.address}:${this.port}`;
  }

  /** Polls until `check` returns a value over the datagrams received so far. */
  waitFor<T>(what: string, check: (datagrams: readonly CapturedDatagram[]) => T | undefined, options: WaitOptions = {}): Promise<T> {
    return waitFor(what, () => check(this.datagrams), options);
  }

  /** Forget what was received so far (a new phase of a test). */
  clear(): void {
    this.datagrams.length = 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  /** The datagrams as a classic pcap (Ethernet/IPv4/UDP), for tshark or the corpus. */
  toPcap(datagrams: readonly CapturedDatagram[] = this.datagrams): Buffer {
    return buildPcap(datagrams);
  }

  writePcap(path: string, datagrams: readonly CapturedDatagram[] = this.datagrams): void {
    writeFileSync(path, buildPcap(datagrams));
  }
}

const PCAP_MAGIC = 0xa1b2c3d4; // microsecond timestamps
const LINKTYPE_ETHERNET = 1;
const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_UDP = 17;

/**
 * Classic pcap of UDP datagrams, re-framed as Ethernet/IPv4/UDP (MACs zero, UDP checksum 0 = none,
 * IPv4 header checksum computed). Payloads over 65507 bytes do not fit IPv4 and are refused.
 */
export function buildPcap(datagrams: readonly CapturedDatagram[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(PCAP_MAGIC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(0, 8); // thiszone
  header.writeUInt32LE(0, 12); // sigfigs
  header.writeUInt32LE(262_144, 16); // snaplen
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const parts: Buffer[] = [header];
  for (const d of datagrams) {
    const udpLength = 8 + d.payload.length;
    const ipLength = 20 + udpLength;
    if (ipLength > 0xffff) throw new RangeError(`datagram of ${d.payload.length} bytes does not fit an IPv4 packet`);
    const frame = Buffer.alloc(14 + ipLength);
    frame.writeUInt16BE(ETHERTYPE_IPV4, 12);
    const ip = frame.subarray(14, 34);
    ip.writeUInt8(0x45, 0);
    ip.writeUInt16BE(ipLength, 2);
    ip.writeUInt8(64, 8); // TTL
    ip.writeUInt8(IPPROTO_UDP, 9);
    writeIpv4(ip, 12, d.source.address);
    writeIpv4(ip, 16, d.destination.address);
    ip.writeUInt16BE(ipv4Checksum(ip), 10);
    frame.writeUInt16BE(d.source.port, 34);
    frame.writeUInt16BE(d.destination.port, 36);
    frame.writeUInt16BE(udpLength, 38);
    d.payload.copy(frame, 42);
    const record = Buffer.alloc(16);
    const micros = Math.round(d.receivedAt * 1000);
    record.writeUInt32LE(Math.floor(micros / 1_000_000), 0);
    record.writeUInt32LE(micros % 1_000_000, 4);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length, 12);
    parts.push(record, frame);
  }
  return Buffer.concat(parts);
}

function writeIpv4(buffer: Buffer, offset: number, address: string): void {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new RangeError(`not an IPv4 address: ${address}`);
  octets.forEach((o, i) => buffer.writeUInt8(o, offset + i));
}

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// ---------- names, addresses, stale labs ----------

/** Root-namespace link names are global on the machine: ht<pid>l<lab> (the bridge), then h<k>, at most 15 characters. */
function rootLinkName(prefix: string, kind: 'b' | 'h', k: number): string {
  const name = kind === 'b' ? prefix : `${prefix}h${k}`;
  if (name.length > IFNAMSIZ) throw new Error(`interface name ${name} is longer than ${IFNAMSIZ} characters`);
  return name;
}

function rootLinksOf(ipLinkOutput: string, prefix: string): string[] {
  const names: string[] = [];
  for (const line of ipLinkOutput.split('\n')) {
    const match = /^\d+: ([^:@\s]+)/.exec(line);
    const name = match?.[1];
    if (name === undefined) continue;
    if (name === prefix || (name.startsWith(`${prefix}h`) && /^\d+$/.test(name.slice(prefix.length + 1)))) names.push(name);
  }
  // veth ends first, the bridge last.
  return names.sort((a, b) => b.length - a.length);
}

function checkPersistentNames(names: PersistentLabNames): void {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(names.id) || LAB_NAME.test(names.id)) {
    throw new Error(`persistent lab id ${JSON.stringify(names.id)}: use [a-z0-9-], at most 31 characters, not ht-<pid>-<n> (the sweep of dead test processes' labs takes those)`);
  }
  if (!/^[a-z][a-z0-9]{0,10}$/.test(names.linkPrefix) || ROOT_LINK.test(names.linkPrefix)) {
    throw new Error(`persistent lab link prefix ${JSON.stringify(names.linkPrefix)}: use [a-z0-9], at most 11 characters, not ht<pid>l<n>`);
  }
}

function checkLabel(label: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(label)) throw new Error(`lab label ${JSON.stringify(label)}: use [a-z0-9-], at most 31 characters`);
  return label;
}

/** Quotes a value for an ovs-vsctl column (a string with ':' or ',' must be quoted). */
function ovsString(value: string): string {
  return JSON.stringify(value);
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}


/** Blocks (of 16 addresses) of 198.51.100.0/24 that an address or route in the root namespace touches. */
async function usedMgmtBlocks(): Promise<Set<number>> {
  const used = new Set<number>();
  const addresses = await run(null, ['ip', '-4', '-o', 'address', 'show']);
  const routes = await run(null, ['ip', '-4', 'route', 'show', 'table', 'all']);
  for (const match of `${addresses}\n${routes}`.matchAll(/198\.51\.100\.(\d+)(?:\/(\d+))?/g)) {
    const last = Number(match[1]);
    const length = match[2] === undefined ? 32 : Number(match[2]);
    if (length >= MGMT_PREFIX_LENGTH) used.add(Math.floor(last / 16));
    else for (let b = 0; b < MGMT_BLOCKS; b++) used.add(b); // a wider prefix covers every block
  }
  return used;
}

async function mgmtBlockHolders(block: number): Promise<string[]> {
  const out = await run(null, ['ip', '-4', '-o', 'address', 'show']);
  const holders: string[] = [];
  for (const line of out.split('\n')) {
    const match = /^\d+: (\S+)\s+inet 198\.51\.100\.(\d+)\/(\d+)/.exec(line);
    if (match === null) continue;
    const last = Number(match[2]);
    const length = Number(match[3]);
    if (Math.floor(last / 16) === block || length < MGMT_PREFIX_LENGTH) holders.push(match[1] ?? '');
  }
  return holders;
}

function isNoSuchProcess(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ESRCH';
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if (isNoSuchProcess(error)) return false;
    return true; // EPERM: alive, not ours
  }
}

/**
 * Removes what labs of dead test processes left behind: their OVS daemons (a pid from the lab's own
 * pidfile, and only while /proc shows that same daemon running on that lab's files), namespaces,
 * root-namespace links and temp dirs. Labs of live processes are never touched.
 */
export async function sweepStaleLabs(): Promise<void> {
  const dead = (pid: string): boolean => Number(pid) !== process.pid && !processAlive(Number(pid));
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const owner = LAB_NAME.exec(entry.slice(DIR_PREFIX.length))?.[1];
    if (owner === undefined || !dead(owner)) continue;
    const dir = join(tmpdir(), entry);
    for (const host of safeReaddir(dir)) {
      for (const daemon of ['ovs-vswitchd', 'ovsdb-server']) {
        const pidfile = join(dir, host, `${daemon}.pid`);
        if (!existsSync(pidfile)) continue;
        const pid = Number(readFileSync(pidfile, 'utf8').trim());
        if (!Number.isInteger(pid) || pid <= 0) continue;
        const cmdline = readIfExists(`/proc/${pid}/cmdline`).split('\0');
        if (cmdline[0]?.endsWith(daemon) === true && cmdline.some((arg) => arg.includes(dir))) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch (error) {
            if (!isNoSuchProcess(error)) throw error;
          }
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  for (const name of await listNetns()) {
    const owner = LAB_NAME.exec(name)?.[1];
    if (owner !== undefined && dead(owner)) await exec(null, ['ip', 'netns', 'delete', name], { okCodes: [0, 1] });
  }
  const links = await run(null, ['ip', '-o', 'link', 'show']);
  for (const line of links.split('\n')) {
    const name = /^\d+: ([^:@\s]+)/.exec(line)?.[1];
    const owner = name === undefined ? undefined : ROOT_LINK.exec(name)?.[1];
    if (name !== undefined && owner !== undefined && dead(owner)) await exec(null, ['ip', 'link', 'delete', name], { okCodes: [0, 1] });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return [];
    throw error;
  }
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ESRCH')) return '';
    throw error;
  }
}

const CLEANUP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

function tearDownLiveLabsSync(): void {
  for (const lab of [...liveLabs]) lab.teardownSync();
}

/**
 * Runs the synchronous teardown of live labs at process exit, and on SIGTERM (how vitest stops a
 * worker) or SIGINT. A signal listener replaces Node's default "exit on signal", so while labs
 * live we listen, and after cleaning up we re-raise the signal unless someone else listens too.
 */
function onCleanupSignal(signal: NodeJS.Signals): void {
  tearDownLiveLabsSync();
  for (const s of CLEANUP_SIGNALS) process.off(s, onCleanupSignal);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installExitHook(): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', tearDownLiveLabsSync);
  }
  for (const signal of CLEANUP_SIGNALS) if (!process.listeners(signal).includes(onCleanupSignal)) process.on(signal, onCleanupSignal);
}

function releaseSignalHooks(): void {
  if (liveLabs.size > 0) return;
  for (const signal of CLEANUP_SIGNALS) process.off(signal, onCleanupSignal);
}
