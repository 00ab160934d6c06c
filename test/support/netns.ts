// Commands in network namespaces, for integration tests that build labs out of real Linux parts.
//
// Every command is an argv run with execFile (never a shell). A failure throws CommandError with
// the command line, the namespace, the exit status and stderr. The root namespace is `null`.
import { execFile, execFileSync } from 'node:child_process';

/** A network namespace name, or null for the namespace this process runs in. */
export type Netns = string | null;

export interface ExecOptions {
  /** Kill the command after this long (default 30 s) and fail. */
  timeoutMs?: number;
  /** Extra environment variables (added to this process's environment). */
  env?: Record<string, string>;
  /** Exit statuses that are not failures (default [0]); the caller reads `code`. */
  okCodes?: readonly number[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A command that could not be started, was killed, or exited with a status it should not have. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly argv: readonly string[];
  readonly netns: Netns;
  /** Exit status; null when the command was killed by a signal or could not be started. */
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(
    argv: readonly string[],
    netns: Netns,
    result: { code: number | null; signal: string | null; stdout: string; stderr: string; reason?: string },
  ) {
    const how = result.reason ?? (result.code !== null ? `exit status ${result.code}` : `killed by ${result.signal ?? 'a signal'}`);
    const err = result.stderr.trim();
    super(`${commandLine(argv, netns)}: ${how}${err === '' ? '' : `\n${err}`}`);
    this.argv = argv;
    this.netns = netns;
    this.code = result.code;
    this.signal = result.signal;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
  }
}

/** The argv that runs `argv` in `netns` (`ip netns exec NS ...`), or `argv` itself for the root namespace. */
export function inNetns(netns: Netns, argv: readonly string[]): string[] {
  return netns === null ? [...argv] : ['ip', 'netns', 'exec', netns, ...argv];
}

/** A readable command line for messages (quoted only where needed; it is never run by a shell). */
export function commandLine(argv: readonly string[], netns: Netns = null): string {
  return inNetns(netns, argv).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Runs `argv` in `netns` and resolves with its output; rejects with CommandError on failure. */
export function exec(netns: Netns, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const full = inNetns(netns, argv);
  const [file, ...args] = full;
  if (file === undefined) throw new Error('exec: empty argv');
  const okCodes = options.okCodes ?? [0];
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        env: options.env === undefined ? process.env : { ...process.env, ...options.env },
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr, code: 0 });
          return;
        }
        const status = typeof error.code === 'number' ? error.code : null;
        if (status !== null && okCodes.includes(status)) {
          resolve({ stdout, stderr, code: status });
          return;
        }
        const reason =
          typeof error.code === 'string' ? `cannot run (${error.code})` : error.killed && status === null ? `timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : undefined;
        reject(
          new CommandError(argv, netns, {
            code: status,
            signal: error.signal ?? null,
            stdout,
            stderr,
            ...(reason === undefined ? {} : { reason }),
          }),
        );
      },
    );
  });
}

/** `exec` for its standard output only. */
export async function run(netns: Netns, argv: readonly string[], options: ExecOptions = {}): Promise<string> {
  return (await exec(netns, argv, options)).stdout;
}

/**
 * Synchronous best-effort command for process-exit cleanup, where nothing asynchronous runs.
 * Returns false instead of throwing: at exit there is nobody left to tell.
 */
export function runSyncQuietly(argv: readonly string[]): boolean {
  const [file, ...args] = argv;
  if (file === undefined) return false;
  try {
    execFileSync(file, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch (error) {
    if (error instanceof Error) return false;
    throw error;
  }
}

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Time between probes (default 100 ms). */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined, and returns that. Throws when the
 * deadline passes, with `what` and the last error the probe threw (a probe may throw while the
 * condition is not met yet, e.g. a daemon whose socket is not there).
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const last = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Creates a namespace with loopback up and, unless `ipv6` is true, IPv6 off (no ND/MLD noise in samples). */
export async function addNetns(name: string, options: { ipv6?: boolean } = {}): Promise<void> {
  await run(null, ['ip', 'netns', 'add', name]);
  await run(name, ['ip', 'link', 'set', 'lo', 'up']);
  if (options.ipv6 !== true) {
    // `default` covers interfaces created later, `all` the existing ones.
    await run(name, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.all.disable_ipv6=1']);
  }
}

/** Deletes a namespace; a namespace that is already gone is not an error. */
export async function deleteNetns(name: string): Promise<void> {
  if (!(await listNetns()).includes(name)) return;
  await run(null, ['ip', 'netns', 'delete', name]);
}

export async function listNetns(): Promise<string[]> {
  const out = await run(null, ['ip', '-j', 'netns', 'list']);
  if (out.trim() === '') return [];
  const parsed: unknown = JSON.parse(out);
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((entry: unknown) => {
    if (typeof entry === 'object' && entry !== null && 'name' in entry && typeof entry.name === 'string') return [entry.name];
    return [];
  });
}

/** One end of a veth pair. */
export interface VethEnd {
  netns: Netns;
  name: string;
  /** Set the MAC address (e.g. a VM's eth0). */
  mac?: string;
  /** Addresses with prefix length, e.g. "192.0.2.11/24". */
  addresses?: readonly string[];
  mtu?: number;
  /** Enslave this end to a Linux bridge in the same namespace. */
  master?: string;
  /** Bring the link up (default true). */
  up?: boolean;
}

/**
 * Creates a veth pair with each end directly in its namespace, so names only need to be unique
 * within their own namespace (a root-namespace name must be unique on the machine).
 */
export async function addVeth(a: VethEnd, b: VethEnd): Promise<void> {
  const peerNetns = b.netns === null ? [] : ['netns', b.netns];
  if (a.netns === null) {
    await run(null, ['ip', 'link', 'add', a.name, 'type', 'veth', 'peer', 'name', b.name, ...peerNetns]);
  } else {
    await run(null, ['ip', '-n', a.netns, 'link', 'add', a.name, 'type', 'veth', 'peer', 'name', b.name, ...peerNetns]);
  }
  for (const end of [a, b]) await configureLink(end);
}

async function configureLink(end: VethEnd): Promise<void> {
  const ip = ipIn(end.netns);
  if (end.mac !== undefined) await run(null, [...ip, 'link', 'set', end.name, 'address', end.mac]);
  if (end.mtu !== undefined) await run(null, [...ip, 'link', 'set', end.name, 'mtu', String(end.mtu)]);
  if (end.master !== undefined) await run(null, [...ip, 'link', 'set', end.name, 'master', end.master]);
  for (const address of end.addresses ?? []) await run(null, [...ip, 'address', 'add', address, 'dev', end.name]);
  if (end.up !== false) await run(null, [...ip, 'link', 'set', end.name, 'up']);
}

/** `ip` for a namespace without an extra `ip netns exec` process: `ip -n NS`. */
export function ipIn(netns: Netns): string[] {
  return netns === null ? ['ip'] : ['ip', '-n', netns];
}

/** A Linux bridge (e.g. a qbr), with forward delay 0 so ports forward at once. */
export async function addLinuxBridge(netns: Netns, name: string, options: { addresses?: readonly string[] } = {}): Promise<void> {
  await run(null, [...ipIn(netns), 'link', 'add', name, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
  for (const address of options.addresses ?? []) await run(null, [...ipIn(netns), 'address', 'add', address, 'dev', name]);
  await run(null, [...ipIn(netns), 'link', 'set', name, 'up']);
}

/**
 * Turns off TX checksum offload (and with it TSO) on a device. A frame a veth hands to the OVS
 * userspace datapath (AF_PACKET) keeps a partial checksum when the sender offloaded it; OVS 3.1
 * forwards it as is and the receiver drops every TCP/UDP frame (ICMP is not offloaded). VMs'
 * eth0 and every namespace end that sends TCP/UDP through a netdev bridge need this.
 */
export async function disableTxOffload(netns: Netns, device: string): Promise<void> {
  await run(netns, ['ethtool', '-K', device, 'tx', 'off']);
}

export interface LinkInfo {
  ifIndex: number;
  name: string;
  mac: string;
  /** veth: the peer's ifIndex (in the peer's namespace). */
  peerIfIndex: number | undefined;
  mtu: number;
  up: boolean;
}

/** Reads a link's ifIndex, MAC and peer index from `ip -j link show`. */
export async function linkInfo(netns: Netns, name: string): Promise<LinkInfo> {
  const out = await run(null, [...ipIn(netns), '-j', 'link', 'show', 'dev', name]);
  const parsed: unknown = JSON.parse(out);
  const entry: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
  if (typeof entry !== 'object' || entry === null) throw new Error(`ip link show ${name} in ${netns ?? 'root'}: no entry`);
  const record = entry as Record<string, unknown>;
  const ifIndex = record['ifindex'];
  const mac = record['address'];
  const mtu = record['mtu'];
  const flags = record['flags'];
  const link = record['link_index'];
  if (typeof ifIndex !== 'number' || typeof mac !== 'string' || typeof mtu !== 'number') {
    throw new Error(`ip link show ${name} in ${netns ?? 'root'}: unexpected JSON ${out.slice(0, 200)}`);
  }
  return {
    ifIndex,
    name,
    mac,
    peerIfIndex: typeof link === 'number' ? link : undefined,
    mtu,
    up: Array.isArray(flags) && flags.includes('UP'),
  };
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** The command's output, for messages. */
  output: string;
}

export interface PingOptions {
  /** Echo requests to send (default 3). */
  count?: number;
  /** Seconds between requests (default 0.2; below 0.2 needs root). */
  intervalS?: number;
  /** Seconds to wait for each reply (default 2: a loaded machine answers late, not never). */
  waitS?: number;
  /** 'reply' (default): fail unless every request is answered; 'none': fail if any is; 'any': never fail on loss. */
  expect?: 'reply' | 'none' | 'any';
  /** Source interface or address (-I). */
  from?: string;
}

/** Pings `address` from `netns` (iputils ping, IPv4), a bounded number of times. */
export async function ping(netns: Netns, address: string, options: PingOptions = {}): Promise<PingResult> {
  const count = options.count ?? 3;
  const argv = ['ping', '-4', '-n', '-q', '-c', String(count), '-i', String(options.intervalS ?? 0.2), '-W', String(options.waitS ?? 2)];
  if (options.from !== undefined) argv.push('-I', options.from);
  argv.push(address);
  // ping exits 1 when some reply is missing: that is a result here, not a failure to run.
  const result = await exec(netns, argv, { okCodes: [0, 1], timeoutMs: (count * ((options.intervalS ?? 0.2) + (options.waitS ?? 2)) + 10) * 1000 });
  const match = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(result.stdout);
  if (match === null) throw new CommandError(inNetns(netns, argv), null, { code: result.code, signal: null, stdout: result.stdout, stderr: result.stderr, reason: 'no summary line' });
  const ping: PingResult = { transmitted: Number(match[1]), received: Number(match[2]), output: result.stdout };
  const expect = options.expect ?? 'reply';
  if ((expect === 'reply' && ping.received !== ping.transmitted) || (expect === 'none' && ping.received !== 0)) {
    throw new Error(`${commandLine(argv, netns)}: expected ${expect === 'reply' ? 'every reply' : 'no reply'}, got ${ping.received}/${ping.transmitted}\n${ping.output.trim()}`);
  }
  return ping;
}
