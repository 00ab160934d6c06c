// One JSON shape for `hoptrace analyze --json` and `hoptrace paths --json`: the shipped lab capture
// (test/fixtures/lab-capture) analyzed as `hoptrace analyze` does it, every path written with
// pathRows into a fresh embedded store (as the service's path stage writes them), read back with
// the SQL of `hoptrace paths` and turned back by storedPath: each must be the analyzed path as
// `analyze --json` prints it, but for what the store does not keep (src/pathengine/path-json.ts).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPaths, showPath } from '../../src/cli/commands/paths.js';
import { toJson } from '../../src/cli/json.js';
import { analyzeDatagrams, readCapture, type AnalyzedPath } from '../../src/pathengine/analyze.js';
import { storedPath } from '../../src/pathengine/path-json.js';
import { pathRows } from '../../src/pathengine/path-rows.js';
import { importSnapshots } from '../../src/snapshot/import.js';
import { ChdbStore } from '../../src/store/chdb-store.js';
import { DEFAULT_RETENTION } from '../../src/store/store.js';
import { buildTopologies } from '../../src/topology/build.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'lab-capture');
const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const COMPUTED_AT_MS = Date.parse('2026-11-25T11:00:00Z');

type Json = Record<string, unknown>;

/** What `analyze --json` prints for the path, less what the store does not keep (path-json.ts). */
function expectedOf(p: AnalyzedPath): Json {
  const json = JSON.parse(toJson(p)) as Json & { flow: Json; hops: Json[] };
  delete json.flow['arpOp'];
  json.hops = json.hops.map((h) => ({ ...h, notes: h['notes'] ?? [] }));
  return json;
}

/** The analyzed paths of the lab capture, judged by `sets` of its snapshots, in a fresh store. */
async function analyzedIntoStore(sets: readonly string[], dir: string): Promise<{ paths: AnalyzedPath[]; data: string; since: string }> {
  const imported = await importSnapshots(sets.flatMap((set) => readdirSync(join(FIXTURE, 'snapshots', set)).map((d) => join(FIXTURE, 'snapshots', set, d))));
  const raws = imported.snapshots;
  const capture = readCapture(new Uint8Array(readFileSync(join(FIXTURE, 'sflow.pcap'))), 'sflow.pcap');
  const { paths } = analyzeDatagrams(capture.datagrams, buildTopologies(raws).topologies, { rawSnapshots: raws });
  const data = join(dir, 'data');
  // the capture is from 2026-11-25: a retention long enough that its rows outlive this test's future
  // runs (and short enough that first_seen + it stays below DateTime's 2106, or every row is expired)
  const store = await ChdbStore.open({ path: data, retention: { ...DEFAULT_RETENTION, sampleDays: 3650 } });
  try {
    await store.migrate();
    const rows = paths.map((p) => pathRows(p, [], COMPUTED_AT_MS));
    await store.insert('path_hops', rows.flatMap((r) => r.hops));
    await store.insert('paths', rows.map((r) => r.path));
  } finally {
    await store.close();
  }
  const since = new Date(Math.min(...paths.map((p) => Date.parse(p.firstSeen))) - 60_000).toISOString();
  return { paths, data, since };
}

describe.each([
  // as `hoptrace analyze --snapshots` over every set: each frame judged by the versions in force
  { name: 'every snapshot set', sets: ['healthy', 'broken', 'repaired'], cli: true },
  // only the broken tables: the answered pings of the healthy and repaired phases are conflicts
  { name: 'the broken set only', sets: ['broken'], cli: false },
])('paths --json reads back what analyze --json printed ($name)', ({ sets, cli }) => {
  let dir = '';
  let paths: AnalyzedPath[] = [];
  let data = '';
  let since = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-paths-json-'));
    ({ paths, data, since } = await analyzedIntoStore(sets, dir));
  }, 120_000);
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('every path, hops included: paths show ID --json is the analyzed path', async () => {
    expect(new Set(paths.map((p) => p.pathId)).size).toBe(paths.length);
    // the kinds of path the round trip must carry, all in this capture
    expect(paths.some((p) => p.nat !== null && p.nat !== undefined), 'a path through the router\'s NAT').toBe(true);
    expect(paths.some((p) => p.drop !== null), 'a dropped path').toBe(true);
    expect(paths.some((p) => p.flow.arpOp !== undefined), 'an ARP path').toBe(true);
    expect(paths.some((p) => p.hops.some((h) => h.tunnelId !== null)), 'a hop with a tunnel id').toBe(true);
    if (sets.length === 1) expect(paths.some((p) => p.conflict !== null && p.conflict !== undefined), 'a conflict').toBe(true);
    for (const p of paths) {
      const { path, hops } = await showPath(p.pathId, { data }, {});
      expect(storedPath(path, hops), p.pathId).toEqual(expectedOf(p));
    }
  });

  it('every path without its hops: paths --json, hopCount and observedHops instead', async () => {
    const listed = await listPaths({ data, since, limit: 100_000 }, {});
    expect(listed).toHaveLength(paths.length);
    const byId = new Map(paths.map((p) => [p.pathId, p]));
    for (const row of listed) {
      const p = byId.get(row.path_id);
      if (p === undefined) throw new Error(`listed ${row.path_id}, never analyzed`);
      const { hops: _hops, ...rest } = expectedOf(p);
      expect(storedPath(row), p.pathId).toEqual({ ...rest, hopCount: p.hops.length, observedHops: p.hops.filter((h) => h.observed).length });
    }
  });

  // once is enough: the CLI adds only the printing to what the tests above check
  if (cli) it('the built CLI prints that shape (paths --json, paths show --json)', async () => {
    // as cli.test.ts: `npm test` builds dist/ first
    if (!existsSync(BIN)) throw new Error(`${BIN} not built: npx tsc -p tsconfig.json`);
    const run = (args: string[]): Promise<string> => new Promise((resolve, reject) => {
      const { HOPTRACE_HTTP__LISTEN: _listen, ...env } = process.env;
      execFile(process.execPath, [BIN, ...args, '--data', data], { env, maxBuffer: 64 << 20 }, (error, stdout, stderr) => (error === null ? resolve(stdout) : reject(new Error(stderr))));
    });
    const nat = paths.find((p) => p.nat !== null && p.nat !== undefined) as AnalyzedPath;
    const shown = await run(['paths', 'show', nat.pathId, '--json']);
    expect(shown.split('\n')).toHaveLength(2);
    expect(JSON.parse(shown)).toEqual(expectedOf(nat));
    const lines = (await run(['paths', '--json', '--since', since, '--limit', '100000'])).split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(paths.length);
    const listed = JSON.parse(lines.find((l) => l.includes(`"pathId":"${nat.pathId}"`)) ?? 'null') as Json;
    const { hops: _hops, ...rest } = expectedOf(nat);
    expect(listed).toEqual({ ...rest, hopCount: nat.hops.length, observedHops: nat.hops.filter((h) => h.observed).length });
  });
});
