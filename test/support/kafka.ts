// A real Kafka-protocol broker for integration tests, whichever this machine can have:
//   1. KAFKA_BROKERS (comma-separated host:port): an existing cluster; topics through kafkajs' admin.
//   2. a Docker engine that answers `docker info`: apache/kafka (KRaft, one node) via testcontainers.
//   3. librdkafka's mock cluster (Debian librdkafka-dev + a C compiler): rdkafka-mock/mock-broker.c,
//      compiled here into node_modules/.cache/hoptrace/ (rebuilt when the source changes, never
//      committed), run as a child that listens on 127.0.0.1 and exits when its stdin closes.
// What the mock does with kafkajs 2.2.4 (API versions it offers → what kafkajs picks): Produce v7,
// Fetch v11, ListOffsets v3, Metadata v2, FindCoordinator v2, JoinGroup v5, SyncGroup v3,
// Heartbeat v3, LeaveGroup v1, OffsetCommit v5, OffsetFetch v4. Not there: CreateTopics (topics go
// through the launcher), DescribeGroups and the rest of the admin API; the idempotent producer
// fails because the mock's metadata names controller 0, which is no broker. It keeps at most
// 5 MiB per partition (older message sets are dropped), and a group's first join waits 3 s while
// sessions are checked every second: use a session timeout well above 4 s (6 s), or a member can
// expire inside its JoinGroup, which the mock then never answers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';

export interface KafkaService {
  kind: 'env' | 'testcontainers' | 'rdkafka-mock';
  brokers: string[];
  createTopic(name: string, partitions: number): Promise<void>;
  /** rdkafka-mock only: close a broker's connections and refuse new ones (ids start at 1), or take it back. */
  setBrokerUp?: (id: number, up: boolean) => Promise<void>;
  /** rdkafka-mock only: the next `count` requests of API `apiKey` fail with Kafka error `errorCode`. */
  failRequests?: (apiKey: number, errorCode: number, count: number) => Promise<void>;
  stop(): Promise<void>;
}

export const INSTALL_HINT = 'apt-get install librdkafka-dev gcc';
const HERE = dirname(fileURLToPath(import.meta.url));
const MOCK_SOURCE = join(HERE, 'rdkafka-mock', 'mock-broker.c');
const CACHE_DIR = join(HERE, '..', '..', 'node_modules', '.cache', 'hoptrace');
const DOCKER_PROBE_TIMEOUT_MS = 3000;
const START_TIMEOUT_MS = 10_000;
const KAFKA_IMAGE = 'apache/kafka:3.9.0';

function envBrokers(): string[] {
  return (process.env['KAFKA_BROKERS'] ?? '').split(',').map((b) => b.trim()).filter((b) => b !== '');
}

function dockerAnswers(): boolean {
  const result = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: DOCKER_PROBE_TIMEOUT_MS, stdio: 'ignore' });
  return result.status === 0;
}

/** Builds the mock launcher when its source changed; returns the binary, or why it cannot be built. */
export function buildMockBroker(): { binary: string } | { reason: string } {
  const source = readFileSync(MOCK_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const binary = join(CACHE_DIR, `mock-broker-${hash}`);
  if (existsSync(binary)) return { binary };
  const cc = (spawnSync('/bin/sh', ['-c', 'command -v cc || command -v gcc'], { encoding: 'utf8' }).stdout ?? '').trim().split('\n')[0] ?? '';
  if (cc === '') return { reason: `no C compiler to build the librdkafka mock broker: ${INSTALL_HINT}` };
  if (!existsSync('/usr/include/librdkafka/rdkafka_mock.h')) return { reason: `librdkafka's mock cluster header is missing (/usr/include/librdkafka/rdkafka_mock.h): ${INSTALL_HINT}` };
  mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${binary}.${process.pid}.tmp`; // concurrent builds each write their own, then rename
  const result = spawnSync(cc, ['-O2', '-Wall', '-o', partial, MOCK_SOURCE, '-lrdkafka'], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    return { reason: `cannot build the librdkafka mock broker (${cc} ${MOCK_SOURCE} -lrdkafka): ${(result.stderr || String(result.error)).trim().split('\n').slice(0, 3).join(' | ')}; ${INSTALL_HINT}` };
  }
  renameSync(partial, binary);
  return { binary };
}

/** Why no broker can be had here (for needService's skip note), or undefined when one can. */
export function kafkaUnavailable(): string | undefined {
  if (envBrokers().length > 0 || dockerAnswers()) return undefined;
  const built = buildMockBroker();
  if ('reason' in built) return built.reason;
  // A cached binary outlives a removed librdkafka1: start it once with no commands.
  const run = spawnSync(built.binary, [], { input: '', encoding: 'utf8', timeout: START_TIMEOUT_MS });
  if (run.status !== 0 || !run.stdout.startsWith('bootstrap ')) {
    return `the librdkafka mock broker (${built.binary}) does not start: ${(run.stderr || String(run.error)).trim().split('\n')[0]}; ${INSTALL_HINT}`;
  }
  return undefined;
}

export async function startKafka(): Promise<KafkaService> {
  const brokers = envBrokers();
  if (brokers.length > 0) return withAdmin('env', brokers, async () => undefined);
  if (dockerAnswers()) return startContainer();
  const built = buildMockBroker();
  if ('reason' in built) throw new Error(built.reason);
  return startMock(built.binary);
}

/** Topics through kafkajs' admin (a real broker). */
async function withAdmin(kind: KafkaService['kind'], brokers: string[], stopBroker: () => Promise<void>): Promise<KafkaService> {
  const admin = new Kafka({ clientId: 'hoptrace-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  return {
    kind,
    brokers,
    async createTopic(name, partitions) {
      await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
    },
    async stop() {
      await admin.disconnect();
      await stopBroker();
    },
  };
}

/** One KRaft node; the host port is fixed before start, so the broker can advertise it. */
async function startContainer(): Promise<KafkaService> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const port = 19_000 + (process.pid % 1000);
  const container = await new GenericContainer(KAFKA_IMAGE)
    .withExposedPorts({ container: port, host: port })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: `PLAINTEXT://:${port},CONTROLLER://:9093`,
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://localhost:${port}`,
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(120_000)
    .start();
  return withAdmin('testcontainers', [`localhost:${port}`], async () => {
    await container.stop();
  });
}

/** The mock cluster as a child process: one command a line on stdin, one answer a line on stdout. */
async function startMock(binary: string, brokerCount = 1): Promise<KafkaService> {
  const child: ChildProcess = spawn(binary, [String(brokerCount)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 50) stderr.shift();
  });
  const answers: ((line: string) => void)[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    for (const answer of answers.splice(0)) answer(`error mock broker exited: ${stderr.join('').trim()}`);
    resolve();
  }));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => answers.shift()?.(line));
  const next = (timeoutMs: number): Promise<string> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(`error no answer from the mock broker within ${timeoutMs} ms`), timeoutMs);
      answers.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const command = async (text: string): Promise<void> => {
    if (exited) throw new Error(`mock broker has exited: ${stderr.join('').trim()}`);
    const answer = next(START_TIMEOUT_MS);
    child.stdin?.write(`${text}\n`);
    const line = await answer;
    if (line !== 'ok') throw new Error(`mock broker: ${text}: ${line}`);
  };
  const stop = async (): Promise<void> => {
    child.stdin?.end(); // the launcher exits at end of input
    await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    if (!exited) child.kill('SIGKILL');
    await exit;
  };

  const first = await next(START_TIMEOUT_MS);
  const match = /^bootstrap (\S+)$/.exec(first);
  if (match?.[1] === undefined) {
    await stop();
    throw new Error(`mock broker did not start (${first}): ${stderr.join('').trim()}`);
  }
  return {
    kind: 'rdkafka-mock',
    brokers: match[1].split(','),
    createTopic: (name, partitions) => command(`topic ${name} ${partitions}`),
    setBrokerUp: (id, up) => command(`${up ? 'up' : 'down'} ${id}`),
    failRequests: (apiKey, errorCode, count) => command(`error ${apiKey} ${errorCode} ${count}`),
    stop,
  };
}
