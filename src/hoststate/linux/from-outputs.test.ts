import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureInfo, fixture } from '../../../test/fixtures/linux/load.js';
import { commandById } from '../commands.js';
import type { CommandOutput } from '../snapshot.js';
import { LINUX_COMMAND_KINDS, parseLinuxOutput } from './from-outputs.js';

const output = (id: string, stdout: string, origin = 'agent'): CommandOutput => ({ id, argv: ['x'], origin, stdout, stderr: '', exitCode: 0 });

describe('parseLinuxOutput', () => {
  it('knows only ids of the command catalog', () => {
    for (const id of Object.keys(LINUX_COMMAND_KINDS)) expect(commandById(id), id).toBeDefined();
  });

  it.each([
    ['ip.address', 'agent/ip.address.json', 'devices'],
    ['ip.link', 'ip_-s_-d_link', 'devices'],
    ['ip.o.addr', 'ip_-o_addr', 'addresses'],
    ['ip.route', 'agent/ip.route.json', 'routes'],
    ['ip.neigh', 'ip_-s_-s_neigh_show', 'neighbours'],
    ['ip.netns', 'ip_netns', 'namespaces'],
    ['bridge.link', 'agent/bridge.link.json', 'bridge-ports'],
    ['bridge.fdb', 'bridge_fdb_show', 'fdb'],
    ['ethtool.S', 'ethtool_-S_tap12345678-90', 'ethtool'],
    ['iptables-save', 'iptables-save_-c', 'iptables'],
    ['iptables.list', 'iptables_-vnxL', 'iptables'],
  ] as const)('%s from %s', (id, file, kind) => {
    const parsed = parseLinuxOutput(output(id, fixture(file), `sos_commands/networking/${file}`));
    expect(parsed?.kind).toBe(kind);
    expect(parsed?.parsed.issues).toEqual([]);
  });

  it('names the source in issues and ignores ids it does not parse', () => {
    expect(parseLinuxOutput(output('ip.route', 'nonsense'))?.parsed.issues[0]?.source).toBe('ip.route (x)');
    expect(parseLinuxOutput(output('ovs-vsctl.show', ''))).toBeUndefined();
  });

  it('resolves link namespaces with the netns option', () => {
    const netns = captureInfo().ports[0].vmNetns;
    const list = parseLinuxOutput(output('ip.netns', fixture('ip_netns')));
    const parsed = parseLinuxOutput(output('ip.address', fixture('agent/ip.address.json')), { netns: list?.kind === 'namespaces' ? list.parsed.value : [] });
    expect(parsed?.kind === 'devices' && parsed.parsed.value.some((d) => d.linkNetns?.name === netns)).toBe(true);
  });

  it('every parser takes random lines without throwing, and reports lines within the text', () => {
    const ids = Object.keys(LINUX_COMMAND_KINDS);
    fc.assert(fc.property(fc.constantFrom(...ids), fc.array(fc.string({ maxLength: 60 }), { maxLength: 8 }), (id, lines) => {
      const text = lines.join('\n');
      const parsed = parseLinuxOutput(output(id, text));
      for (const i of parsed?.parsed.issues ?? []) {
        expect(i.line).toBeGreaterThanOrEqual(0);
        expect(i.line).toBeLessThanOrEqual(lines.length + 1);
      }
    }), { numRuns: 500 });
  });
});
