// hoptrace trace as a user meets it, on the lab snapshots (test/fixtures/lab-capture): the --help
// examples work as printed, and a start the snapshots do not have (--in-port) or a --ct-state flag
// OVS does not know is a usage error that lists the choices, not a trace that ends in bad-start.
// Runs the built bin: `npx tsc -p tsconfig.json` first.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const BROKEN = fileURLToPath(new URL('../fixtures/lab-capture/snapshots/broken/', import.meta.url));
const SNAPSHOTS = ['sosreport-compute1', 'sosreport-network1'].map((d) => join(BROKEN, d));
const ARP = 'arp,dl_src=fa:16:3e:00:11:5c,arp_spa=203.0.113.11,arp_tpa=203.0.113.2';

interface Run { code: number; stdout: string; stderr: string }
function hoptrace(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

/** The `$ hoptrace trace ...` lines of the help (continuation lines joined), as argument lists without `hoptrace`. */
function examplesOf(help: string): string[][] {
  const joined = help.replace(/\\\n\s*/g, '');
  return joined.split('\n').filter((l) => l.trimStart().startsWith('$ hoptrace trace ')).map((line) => {
    const words = [...line.trim().slice('$ hoptrace '.length).matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
    // the example's --snapshots paths (or the store) become the lab's broken snapshots
    const args: string[] = [];
    for (let i = 0; i < words.length; i++) {
      if (words[i] === '--snapshots' || words[i] === '-s') {
        while (i + 1 < words.length && !(words[i + 1] ?? '').startsWith('-')) i++;
        continue;
      }
      args.push(words[i] ?? '');
    }
    return [...args, '--snapshots', ...SNAPSHOTS];
  });
}

describe('hoptrace trace on the lab snapshots', () => {
  it('every --help example runs on them: exit 0, a disposition, never bad-start', async () => {
    const help = await hoptrace(['trace', '--help']);
    expect(help.code).toBe(0);
    const examples = examplesOf(help.stdout);
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const args of examples) {
      const run = await hoptrace(args);
      const label = args.join(' ');
      expect(run.stderr, label).toBe('');
      expect(run.code, label).toBe(0);
      expect(run.stdout, label).not.toContain('bad-start');
      if (args.includes('--json')) {
        const result = JSON.parse(run.stdout) as { dispositions: { kind: string; reason?: string }[] };
        expect(result.dispositions.length, label).toBeGreaterThan(0);
        expect(result.dispositions.filter((d) => d.kind === 'undecidable'), label).toEqual([]);
      } else {
        expect(run.stdout, label).toMatch(/^Disposition: (?!undecidable)/m);
      }
    }
  });

  it.each([
    { name: 'a port name the bridge does not have', inPort: 'qvo0a1b2c3d-4e' },
    { name: 'an OpenFlow number the bridge does not have', inPort: '99' },
    { name: 'a port of another bridge', inPort: 'gre-c0000215' },
  ])('--in-port: $name is exit 2, listing the bridge\'s ports', async ({ inPort }) => {
    const run = await hoptrace(['trace', '--snapshots', ...SNAPSHOTS, '--host', 'compute1', '--bridge', 'br-int', '--in-port', inPort, '--flow', ARP]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`hoptrace: --in-port ${inPort}: compute1 br-int has no such port (have: patch-tun (ofport 1), qvoa5fe27e5-f9 (ofport 2), br-int (LOCAL))\n`);
  });

  it.each(['qvoa5fe27e5-f9', '2', 'LOCAL', '65534', 'br-int'])('--in-port %s: a port of the bridge, by name or number, is traced', async (inPort) => {
    const run = await hoptrace(['trace', '--snapshots', ...SNAPSHOTS, '--host', 'compute1', '--bridge', 'br-int', '--in-port', inPort, '--flow', ARP]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Disposition: /m);
    expect(run.stdout).not.toContain('bad-start');
  });

  it.each([
    { ctState: 'bogus', what: "unknown flag 'bogus'" },
    { ctState: 'trk|established', what: "unknown flag 'established'" },
    { ctState: '+trk+foo-bar', what: "unknown flags 'foo', 'bar'" },
  ])('--ct-state $ctState is exit 2, listing the ct_state flags', async ({ ctState, what }) => {
    const run = await hoptrace(['trace', '--snapshots', ...SNAPSHOTS, '--host', 'compute1', '--bridge', 'br-int', '--in-port', '2', '--flow', ARP, '--ct-state', ctState]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`hoptrace: --ct-state ${ctState}: ${what} (flags: new, est, rel, rpl, inv, trk, snat, dnat; as trk|est, or +trk+est-new to set and clear)\n`);
  });

  it.each(['trk|est', '+trk+est-new', '0x22'])('--ct-state %s is accepted', async (ctState) => {
    const run = await hoptrace(['trace', '--snapshots', ...SNAPSHOTS, '--host', 'compute1', '--bridge', 'br-int', '--in-port', '2', '--flow', ARP, '--ct-state', ctState]);
    expect(run.code).toBe(0);
  });
});
