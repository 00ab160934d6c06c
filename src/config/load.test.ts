import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadConfig, redact } from './load.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-config-'));
  dirs.push(dir);
  const path = join(dir, 'hoptrace.yaml');
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('defaults run embedded', () => {
    const config = loadConfig();
    expect(config.store).toEqual({ kind: 'chdb', path: './data' });
    expect(config.bus.kind).toBe('memory');
    expect(config.collector.listen).toBe('0.0.0.0:6343');
    expect(config.collector.receiveBuffer).toBeGreaterThanOrEqual(4 * 1024 * 1024);
  });

  it.each([
    { name: 'file sets a value', file: 'collector:\n  listen: 127.0.0.1:16343\n', env: {}, flags: {}, want: '127.0.0.1:16343' },
    { name: 'env beats file', file: 'collector:\n  listen: 127.0.0.1:1\n', env: { HOPTRACE_COLLECTOR__LISTEN: '127.0.0.1:2' }, flags: {}, want: '127.0.0.1:2' },
    { name: 'flags beat env', file: '', env: { HOPTRACE_COLLECTOR__LISTEN: '127.0.0.1:2' }, flags: { collector: { listen: '127.0.0.1:3' } }, want: '127.0.0.1:3' },
  ])('precedence: $name', ({ file: text, env, flags, want }) => {
    expect(loadConfig({ file: file(text), env, flags }).collector.listen).toBe(want);
  });

  it('reads typed values from the environment and camel-cases keys', () => {
    const config = loadConfig({ env: { HOPTRACE_COLLECTOR__RECEIVE_BUFFER: '8388608', HOPTRACE_PIPELINE__KEEP_RAW_DATAGRAMS: 'false' } });
    expect(config.collector.receiveBuffer).toBe(8_388_608);
    expect(config.pipeline.keepRawDatagrams).toBe(false);
  });

  it('switching store kind replaces the section', () => {
    const config = loadConfig({ env: { HOPTRACE_STORE__KIND: 'server', HOPTRACE_STORE__URL: 'http://127.0.0.1:8123' } });
    expect(config.store).toMatchObject({ kind: 'server', url: 'http://127.0.0.1:8123', database: 'hoptrace' });
  });

  it.each([
    { name: 'unknown key in file', file: 'colector:\n  listen: x\n', env: {}, code: 'unknown-key', origin: /hoptrace\.yaml/ },
    { name: 'unknown env var', file: '', env: { HOPTRACE_COLLECTOR__LISTNE: '1' }, code: 'unknown-key', origin: /HOPTRACE_COLLECTOR__LISTNE/ },
    { name: 'bad value in env', file: '', env: { HOPTRACE_COLLECTOR__LISTEN: 'nope' }, code: 'bad-value', origin: /HOPTRACE_COLLECTOR__LISTEN/ },
    { name: 'bad YAML', file: 'collector: [\n', env: {}, code: 'unreadable', origin: /hoptrace\.yaml/ },
  ])('rejects $name with a one-line error naming the origin', ({ file: text, env, code, origin }) => {
    let caught: unknown;
    try {
      loadConfig({ file: file(text), env });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.code).toBe(code);
    expect(error.message).toMatch(origin);
    expect(error.message).not.toContain('\n');
  });

  it('ignores non-config HOPTRACE_ variables', () => {
    expect(() => loadConfig({ env: { HOPTRACE_REQUIRE_SERVICES: 'ovs' } })).not.toThrow();
  });

  it('redacts the server password', () => {
    const config = loadConfig({ env: { HOPTRACE_STORE__KIND: 'server', HOPTRACE_STORE__URL: 'http://127.0.0.1:8123', HOPTRACE_STORE__PASSWORD: 'hunter2' } });
    expect(JSON.stringify(redact(config))).not.toContain('hunter2');
  });
});
