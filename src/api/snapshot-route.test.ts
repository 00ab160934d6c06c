import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { snapshotRoute, type SnapshotRouteOptions } from './snapshot-route.js';

const SNAPSHOT: RawSnapshot = {
  format: 'hoptrace.snapshot.v1',
  host: 'compute-2',
  takenAt: '2026-11-25T08:30:00.000Z',
  source: 'agent',
  trigger: 'start',
  producer: 'hoptrace test',
  outputs: [{ id: 'ovs-vsctl.list-br', argv: ['ovs-vsctl', '-t', '5', 'list-br'], origin: 'agent', stdout: 'br-int\nbr-tun\n', stderr: '', exitCode: 0 }],
};
const TOKEN = 'Zm9vYmFyLXNlY3JldC10b2tlbg';

/** A request as node:http hands it over: a readable body with method, headers and a socket address. */
function request(method: string, headers: Record<string, string>, body: Buffer | string = ''): IncomingMessage {
  const req = Readable.from([Buffer.from(body)]) as unknown as IncomingMessage & { socket: { remoteAddress: string } };
  Object.assign(req, { method, headers, url: '/v1/snapshots', socket: { remoteAddress: '192.0.2.7' } });
  return req;
}

interface Captured { status: number; body: Record<string, unknown>; headers: Record<string, unknown> }
function response(): { res: ServerResponse; got: Captured } {
  const got: Captured = { status: 0, body: {}, headers: {} };
  const res = {
    setHeader: (k: string, v: unknown) => { got.headers[k] = v; },
    writeHead: (status: number, headers: Record<string, unknown>) => { got.status = status; Object.assign(got.headers, headers); },
    end: (text: string) => { got.body = JSON.parse(text) as Record<string, unknown>; },
  } as unknown as ServerResponse;
  return { res, got };
}

async function call(options: Partial<SnapshotRouteOptions>, req: IncomingMessage): Promise<{ got: Captured; received: RawSnapshot[] }> {
  const received: RawSnapshot[] = [];
  const handler = snapshotRoute({ tokens: [TOKEN], onSnapshot: async (s) => { received.push(s); }, ...options });
  const { res, got } = response();
  await handler(req, res);
  return { got, received };
}

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

describe('POST /v1/snapshots', () => {
  it('accepts a gzip snapshot with the right token and hands it over', async () => {
    const { got, received } = await call({}, request('POST', { ...auth, 'content-encoding': 'gzip' }, gzipSync(JSON.stringify(SNAPSHOT))));
    expect(got.status).toBe(202);
    expect(received).toEqual([SNAPSHOT]);
  });

  it('accepts a plain JSON body', async () => {
    const { got, received } = await call({}, request('POST', auth, JSON.stringify(SNAPSHOT)));
    expect(got.status).toBe(202);
    expect(received).toHaveLength(1);
  });

  it.each([
    { name: 'no header', headers: {} },
    { name: 'wrong token', headers: { authorization: 'Bearer nope' } },
    { name: 'token of another scheme', headers: { authorization: `Basic ${TOKEN}` } },
    { name: 'token prefix only', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } },
  ])('401 with $name', async ({ headers }) => {
    const { got, received } = await call({}, request('POST', headers, JSON.stringify(SNAPSHOT)));
    expect(got.status).toBe(401);
    expect(received).toEqual([]);
  });

  it('refuses every request when no token is configured and anonymous use is not allowed', async () => {
    const { got } = await call({ tokens: [] }, request('POST', auth, JSON.stringify(SNAPSHOT)));
    expect(got.status).toBe(401);
    const open = await call({ tokens: [], allowUnauthenticated: true }, request('POST', {}, JSON.stringify(SNAPSHOT)));
    expect(open.got.status).toBe(202);
  });

  it('413 for a declared length over the limit, and for a gzip bomb', async () => {
    const declared = await call({ maxBytes: 1000 }, request('POST', { ...auth, 'content-length': '5000' }, 'x'));
    expect(declared.got.status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(200_000, 0x20));
    const inflated = await call({ maxBytes: 100_000 }, request('POST', { ...auth, 'content-encoding': 'gzip' }, bomb));
    expect(bomb.byteLength).toBeLessThan(100_000);
    expect(inflated.got.status).toBe(413);
  });

  it('400 naming the bad field', async () => {
    const bad = { ...SNAPSHOT, outputs: [{ ...SNAPSHOT.outputs[0], exitCode: 'zero' }] };
    const { got, received } = await call({}, request('POST', auth, JSON.stringify(bad)));
    expect(got.status).toBe(400);
    expect(String(got.body['error'])).toContain('outputs[0].exitCode');
    expect(received).toEqual([]);
  });

  it('400 for broken gzip and for text that is not JSON', async () => {
    expect((await call({}, request('POST', { ...auth, 'content-encoding': 'gzip' }, 'not gzip'))).got.status).toBe(400);
    expect((await call({}, request('POST', auth, '{"format": "hoptrace'))).got.status).toBe(400);
  });

  it('405 for GET, 415 for another encoding, 503 when the consumer refuses', async () => {
    expect((await call({}, request('GET', auth))).got.status).toBe(405);
    expect((await call({}, request('POST', { ...auth, 'content-encoding': 'br' }, 'x'))).got.status).toBe(415);
    const refused = await call({ onSnapshot: async () => { throw new Error('bus full'); } }, request('POST', auth, JSON.stringify(SNAPSHOT)));
    expect(refused.got.status).toBe(503);
    expect(String(refused.got.body['error'])).toContain('bus full');
  });
});
