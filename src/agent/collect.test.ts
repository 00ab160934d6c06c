import { describe, expect, it } from 'vitest';
import type { CommandSpec } from '../hoststate/commands.js';
import { agentArgv, collectSnapshot, namespacesFrom, namesFromVsctlJson, vethDevicesFrom } from './collect.js';
import { jsonEnd } from './ovsdb-watch.js';
import { snapshotEndpoint } from './sinks.js';
import { HoptraceError } from '../errors.js';
import type { CommandOutput } from '../hoststate/snapshot.js';

// A catalog of harmless real commands standing in for OVS and iproute2, shaped like the real one.
const CATALOG: CommandSpec[] = [
  { id: 'hostname', scope: 'host', argv: () => ['printf', 'unit-host\n'], sos: [], purpose: 't' },
  { id: 'ovs-vsctl.list-br', scope: 'host', argv: () => ['printf', 'br-a\nbr-b\n'], sos: [], purpose: 't' },
  { id: 'ip.netns', scope: 'host', argv: () => ['printf', 'qrouter-1 (id: 0)\nqdhcp-2\nother\n'], sos: [], purpose: 't' },
  { id: 'ip.link', scope: 'host', argv: () => ['printf', '%s', JSON.stringify([{ ifname: 'qvo1', linkinfo: { info_kind: 'veth' } }, { ifname: 'br0', linkinfo: { info_kind: 'bridge' } }])], sos: [], purpose: 't' },
  { id: 'failing', scope: 'host', argv: () => ['ls', '/nonexistent-hoptrace-path'], sos: [], purpose: 't' },
  { id: 'slow', scope: 'host', argv: () => ['sleep', '30'], sos: [], purpose: 't' },
  { id: 'missing', scope: 'host', argv: () => ['hoptrace-no-such-command'], sos: [], purpose: 't' },
  { id: 'import-only', scope: 'host', argv: () => ['printf', 'x'], sos: [], importOnly: true, purpose: 't' },
  { id: 'per-bridge', scope: 'bridge', argv: (p) => ['printf', 'flows of %s', p.bridge], sos: [], purpose: 't' },
  { id: 'per-namespace', scope: 'namespace', argv: (p) => ['printf', 'routes of %s', p.namespace], sos: [], purpose: 't' },
  { id: 'per-device', scope: 'device', argv: (p) => ['printf', 'peer of %s', p.device], sos: [], purpose: 't' },
];

describe('collectSnapshot', () => {
  it('runs host commands, then per bridge, namespace and veth device; records failures', async () => {
    const seen: string[] = [];
    const snapshot = await collectSnapshot({
      commands: CATALOG, timeoutMs: 500, concurrency: 2, extraBridges: ['br-gone'],
      namespaceFilter: (n) => n.startsWith('q'), onOutput: (o) => seen.push(o.id),
    });
    const by = (id: string, key: Partial<CommandOutput> = {}) => snapshot.outputs.find((o) => o.id === id && o.bridge === key.bridge && o.namespace === key.namespace && o.device === key.device);
    expect(snapshot).toMatchObject({ host: 'unit-host', source: 'agent', trigger: 'interval', format: 'hoptrace.snapshot.v1' });
    expect(by('per-bridge', { bridge: 'br-b' })).toMatchObject({ stdout: 'flows of br-b', exitCode: 0, origin: 'agent', argv: ['printf', 'flows of %s', 'br-b'] });
    expect(by('per-bridge', { bridge: 'br-gone' })?.stdout).toBe('flows of br-gone');
    expect(snapshot.outputs.filter((o) => o.id === 'per-namespace').map((o) => o.namespace)).toEqual(['qrouter-1', 'qdhcp-2']);
    expect(snapshot.outputs.filter((o) => o.id === 'per-device').map((o) => o.device)).toEqual(['qvo1']);
    expect(by('failing')).toMatchObject({ exitCode: 2 });
    expect(by('failing')?.stderr).toContain('nonexistent-hoptrace-path');
    expect(by('slow')).toMatchObject({ exitCode: null, error: 'timed out after 500 ms' });
    expect(by('missing')).toMatchObject({ exitCode: null, error: 'hoptrace-no-such-command: command not found' });
    expect(by('import-only')).toBeUndefined();
    expect(seen).toHaveLength(snapshot.outputs.length);
  });

  it('takes the host override and the trigger, and skips ethtool when asked', async () => {
    const snapshot = await collectSnapshot({ commands: CATALOG.filter((c) => !['slow'].includes(c.id)), host: 'hv9', trigger: 'ovsdb-change', ethtool: false });
    expect(snapshot.host).toBe('hv9');
    expect(snapshot.trigger).toBe('ovsdb-change');
    expect(snapshot.outputs.some((o) => o.id === 'per-device')).toBe(false);
  });
});

describe('agent helpers', () => {
  it('wraps commands for a namespace and gives ovs-appctl no target when the socket is not there', () => {
    const spec: CommandSpec = { id: 'x', scope: 'bridge', argv: (p) => ['ovs-appctl', 'fdb/show', p.bridge], sos: [], purpose: 't' };
    expect(agentArgv(spec, { bridge: 'br-int' }, { netns: 'lab1', ovsRundir: '/nonexistent' })).toEqual(['ip', 'netns', 'exec', 'lab1', 'ovs-appctl', 'fdb/show', 'br-int']);
  });

  it.each([
    { name: 'names with ids', text: 'qrouter-1 (id: 3)\nqdhcp-2\n', want: ['qrouter-1', 'qdhcp-2'] },
    { name: 'duplicates and blanks', text: '\nns1\nns1\n', want: ['ns1'] },
    { name: 'dot-dot refused', text: '..\nok\n', want: ['ok'] },
  ])('namespacesFrom: $name', ({ text, want }) => {
    expect(namespacesFrom({ id: 'ip.netns', argv: [], origin: 'agent', stdout: text, stderr: '', exitCode: 0 })).toEqual(want);
  });

  it.each([
    { name: 'vsctl json', text: '{"headings":["_uuid","name"],"data":[[["uuid","1"],"br-int"],[["uuid","2"],"br-tun"]]}', want: ['br-int', 'br-tun'] },
    { name: 'no name column', text: '{"headings":["x"],"data":[[1]]}', want: [] },
    { name: 'not json', text: 'Bridge br-int', want: [] },
  ])('namesFromVsctlJson: $name', ({ text, want }) => {
    expect(namesFromVsctlJson(text)).toEqual(want);
  });

  it('vethDevicesFrom ignores what is not a veth, and output that is not JSON', () => {
    const out = (stdout: string): CommandOutput => ({ id: 'ip.link', argv: [], origin: 'agent', stdout, stderr: '', exitCode: 0 });
    expect(vethDevicesFrom(out('[{"ifname":"a","linkinfo":{"info_kind":"veth"}},{"ifname":"b"},null,3]'))).toEqual(['a']);
    expect(vethDevicesFrom(out('1: lo: <LOOPBACK>'))).toEqual([]);
  });

  it.each([
    { name: 'base URL', url: 'http://192.0.2.10:8080', want: 'http://192.0.2.10:8080/v1/snapshots' },
    { name: 'full endpoint', url: 'https://collector.example/v1/snapshots', want: 'https://collector.example/v1/snapshots' },
  ])('snapshotEndpoint: $name', ({ url, want }) => {
    expect(snapshotEndpoint(url)).toBe(want);
  });

  it('snapshotEndpoint refuses what is not an http URL', () => {
    expect(() => snapshotEndpoint('collector:8080')).toThrow(HoptraceError);
    expect(() => snapshotEndpoint('ftp://192.0.2.1/')).toThrow(/only http and https/);
  });

  it.each([
    { name: 'one object', text: '{"a":1}', end: 7 },
    { name: 'two back to back', text: '{"a":[1,2]}{"b":2}', end: 11 },
    { name: 'braces in strings', text: '{"a":"}{\\"}"}tail', end: 13 },
    { name: 'incomplete', text: '{"a":{"b":', end: -1 },
  ])('jsonEnd: $name', ({ text, end }) => {
    expect(jsonEnd(text)).toBe(end);
  });
});
