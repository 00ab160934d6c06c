// decode and replay as a user meets them with awkward captures: cut short (read up to the last
// complete record, one warning), a --port that matches nothing (a hint naming the ports there are),
// a file that cannot be read (one line, exit 2). Runs the built bin: `npx tsc -p tsconfig.json` first.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const LAB_PCAP = fileURLToPath(new URL('../fixtures/lab-capture/sflow.pcap', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'hoptrace-cli-captures-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// `head -c 1000 sflow.pcap`: the file header, one 498-byte record (tshark reads it), and a second cut at byte 538
const CUT = join(scratch, 't.pcap');
writeFileSync(CUT, readFileSync(LAB_PCAP).subarray(0, 1000));
const CUT_WARNING = `hoptrace: ${CUT}: capture cut short at byte 538 (a record of 498 bytes runs past the end): read the 1 complete record before it\n`;

interface Run { code: number; stdout: string; stderr: string }
function hoptrace(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: scratch, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('a capture cut short', () => {
  it('decode: the complete records, one warning line, exit 0', async () => {
    const run = await hoptrace(['decode', CUT]);
    expect(run.stderr).toBe(CUT_WARNING);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { frame: number; agent: string });
    expect(lines.map((l) => [l.frame, l.agent])).toEqual([[1, '198.51.100.179']]);
  });

  it('decode --summary counts them too', async () => {
    const run = await hoptrace(['decode', '--summary', '--json', CUT]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(CUT_WARNING);
    expect(JSON.parse(run.stdout)).toMatchObject({ udpPackets: 1, datagrams: 1, failed: 0 });
  });

  it('replay: sends the complete records, one warning line, exit 0', async () => {
    const socket = createSocket('udp4');
    const received: Buffer[] = [];
    socket.on('message', (m) => received.push(m));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    try {
      const run = await hoptrace(['replay', '--json', '--target', `127.0.0.1:${socket.address().port}`, CUT]);
      expect(run.stderr).toBe(CUT_WARNING);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ sent: 1, bytes: 456 });
      const deadline = Date.now() + 5000;
      while (received.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received.map((m) => m.byteLength)).toEqual([456]);
    } finally {
      socket.close();
    }
  });

  it.each(['decode', 'replay'])('%s: a cut file header is still one line, exit 2', async (command) => {
    const header = join(scratch, `header-${command}.pcap`);
    writeFileSync(header, readFileSync(LAB_PCAP).subarray(0, 20));
    const run = await hoptrace([command, header]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`hoptrace: ${header} at byte 0: pcap file header needs 24 bytes, the file has 20\n`);
  });
});

describe('--port that matches nothing', () => {
  const hint = `no UDP datagrams to port 6343 in ${LAB_PCAP}; its UDP destination ports: 34293 (151 datagrams)`;

  it('decode: nothing on stdout, a hint naming the ports the capture has, exit 0', async () => {
    const run = await hoptrace(['decode', '--port', '6343', LAB_PCAP]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`hoptrace: ${hint}\n`);
  });

  it('decode: no hint when the port matches', async () => {
    const run = await hoptrace(['decode', '--summary', '--port', '34293', LAB_PCAP]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^udp packets {2}151$/m);
  });

  it('replay: nothing to send is a usage error with the same hint', async () => {
    const run = await hoptrace(['replay', '--port', '6343', '--target', '127.0.0.1:9', LAB_PCAP]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`hoptrace: ${hint}\n`);
  });
});

describe('a capture file that cannot be read', () => {
  const directory = join(scratch, 'a-directory.pcap');
  mkdirSync(directory);
  it.each([
    { name: 'missing', file: 'does-not-exist.pcap', why: 'no such file' },
    { name: 'a directory', file: directory, why: 'is a directory, not a capture file' },
  ])('$name: decode and replay say the same one line, exit 2', async ({ file, why }) => {
    for (const command of ['decode', 'replay']) {
      const run = await hoptrace([command, file]);
      expect(run.code, command).toBe(2);
      expect(run.stderr, command).toBe(`hoptrace: cannot read ${file}: ${why}\n`);
    }
  });
});
