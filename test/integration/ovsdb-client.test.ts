// The JSON-RPC client against a server this test plays on a unix socket in a temp dir: the server
// behaviour real ovsdb-server shows rarely or never (echo requests on a unix socket, garbage,
// oversized messages, errors, unknown requests, silence), each checked from the wire side.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OvsdbChangeSource } from '../../src/hoststate/ovsdb/change-source.js';
import { OvsdbClient, type OvsdbError } from '../../src/hoststate/ovsdb/client.js';
import type { OvsdbTableUpdates } from '../../src/hoststate/ovsdb/monitor.js';
import { watchOvsdb } from '../../src/hoststate/ovsdb/watch.js';
import { JsonStreamSplitter } from '../../src/hoststate/ovsdb/json-stream.js';
import { waitFor } from '../support/netns.js';

interface Peer {
  socket: Socket;
  /** Messages the client sent, parsed. */
  received: Array<Record<string, unknown>>;
}

let dir: string;
let server: Server;
let path: string;
let peers: Peer[] = [];
const clients: OvsdbClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hoptrace-ovsdb-client-'));
  path = join(dir, 'fake-db.sock');
  server = createServer((socket) => {
    const peer: Peer = { socket, received: [] };
    const splitter = new JsonStreamSplitter(1 << 20);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const text of splitter.push(chunk)) peer.received.push(JSON.parse(text) as Record<string, unknown>);
    });
    socket.on('error', () => undefined); // the client closing on us is part of several tests
    peers.push(peer);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const peer of peers.splice(0)) peer.socket.destroy();
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function connected(options: { requestTimeoutMs?: number; maxMessageBytes?: number } = {}): Promise<{ client: OvsdbClient; peer: Peer }> {
  const before = peers.length;
  const client = await OvsdbClient.connect(`unix:${path}`, options);
  clients.push(client);
  const peer = await waitFor('the server to accept', () => peers[before]);
  return { client, peer };
}

/** The next request the client sent with `method`. */
function request(peer: Peer, method: string): Promise<Record<string, unknown>> {
  return waitFor(`a ${method} request`, () => peer.received.find((m) => m['method'] === method));
}

describe('OvsdbClient against a scripted server', () => {
  it('answers an echo request with its params and id', async () => {
    const { peer } = await connected();
    peer.socket.write('{"id":"echo","method":"echo","params":["x"]}');
    const reply = await waitFor('the echo reply', () => peer.received.find((m) => m['id'] === 'echo'));
    expect(reply).toEqual({ id: 'echo', result: ['x'], error: null });
  });

  it('answers an unknown request with an error, ignores unknown notifications', async () => {
    const { client, peer } = await connected();
    peer.socket.write('{"id":7,"method":"lock","params":["l"]}{"id":null,"method":"locked","params":["l"]}');
    const reply = await waitFor('the error reply', () => peer.received.find((m) => m['id'] === 7));
    expect(reply).toEqual({ id: 7, result: null, error: 'unknown method' });
    expect(client.closed).toBe(false);
  });

  it('matches replies by id, in any order, and rejects an error reply as query-failed', async () => {
    const { client, peer } = await connected();
    const dbs = client.listDbs();
    const echo = client.echo();
    const first = await request(peer, 'list_dbs');
    const second = await request(peer, 'echo');
    peer.socket.write(JSON.stringify({ id: second['id'], result: null, error: { error: 'bad', details: 'no' } }));
    peer.socket.write(JSON.stringify({ id: first['id'], result: ['Open_vSwitch', '_Server'], error: null }));
    expect(await dbs).toEqual(['Open_vSwitch', '_Server']);
    await expect(echo).rejects.toMatchObject({ code: 'query-failed', method: 'echo' });
  });

  it('a transact whose operation failed is query-failed with the server error and details', async () => {
    const { client, peer } = await connected();
    const result = client.transact('Open_vSwitch', [{ op: 'select', table: 'Bridge', where: [] }]);
    const sent = await request(peer, 'transact');
    expect(sent['params']).toEqual(['Open_vSwitch', { op: 'select', table: 'Bridge', where: [] }]);
    peer.socket.write(JSON.stringify({ id: sent['id'], result: [{ error: 'constraint violation', details: 'tag 5000' }], error: null }));
    await expect(result).rejects.toThrow(/constraint violation: tag 5000/);
  });

  it('a request the server never answers fails alone; the connection stays', async () => {
    const { client } = await connected({ requestTimeoutMs: 100 });
    await expect(client.listDbs()).rejects.toMatchObject({ code: 'unavailable', method: 'list_dbs' });
    expect(client.closed).toBe(false);
  });

  it('delivers update notifications to a watch, also one that comes in the same chunk as the reply', async () => {
    const { client, peer } = await connected();
    const watching = watchOvsdb(client, { monitorId: 'm' });
    const sent = await request(peer, 'monitor');
    expect(sent['params']).toMatchObject(['Open_vSwitch', 'm', { Port: { columns: expect.arrayContaining(['tag', 'other_config']) } }]);
    const U = '5f1a3c1e-7d0b-4c8e-9a51-0f7e2b8c1d01';
    const initial = { Port: { [U]: { new: { name: 'tap1', tag: 1, interfaces: ['set', []] } } } };
    const update = { Port: { [U]: { old: { tag: 1 }, new: { name: 'tap1', tag: 2, interfaces: ['set', []] } } } };
    peer.socket.write(JSON.stringify({ id: sent['id'], result: initial, error: null }) + JSON.stringify({ id: null, method: 'update', params: ['m', update] }));
    const watch = await watching;
    await waitFor('the update to apply', () => (watch.state().value.ports[0]?.tag === 2 ? true : undefined));
    const raw: OvsdbTableUpdates[] = [];
    client.onUpdate((_id, updates) => raw.push(updates));
    peer.socket.write(JSON.stringify({ id: null, method: 'update', params: ['other', update] }));
    await waitFor('the other monitor update', () => raw[0]);
    expect(watch.state().value.ports.map((p) => [p.name, p.tag])).toEqual([['tap1', 2]]);
  });

  it.each([
    { name: 'bytes that are not JSON-RPC', send: 'hello', code: 'bad-format' },
    { name: 'a message that is not an object', send: '[1,2]', code: 'bad-format' },
    { name: 'broken JSON inside brackets', send: '{"id":1,}', code: 'bad-format' },
    { name: 'a message over the size limit', send: `{"id":1,"result":"${'x'.repeat(2000)}"}`, code: 'overflow' },
  ])('$name closes the connection with $code and fails pending requests', async ({ send, code }) => {
    const { client, peer } = await connected({ maxMessageBytes: 1000 });
    const closed = new Promise((resolve) => client.onClose(resolve));
    const pending = client.listDbs();
    await request(peer, 'list_dbs');
    peer.socket.write(send);
    await expect(pending).rejects.toMatchObject({ code });
    expect(await closed).toMatchObject({ code });
    expect(client.closed).toBe(true);
  });

  it('the server going away fails pending requests as closed (retriable)', async () => {
    const { client, peer } = await connected();
    const pending = client.listDbs();
    await request(peer, 'list_dbs');
    peer.socket.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'closed', retriable: true });
  });

  it('change source: reports changes as lines, reconnects after the server drops it, says so', async () => {
    const before = peers.length;
    const source = new OvsdbChangeSource({ address: `unix:${path}`, reconnectMs: [20] });
    const seen: string[] = [];
    source.start((what) => seen.push(what));
    try {
      const U = '5f1a3c1e-7d0b-4c8e-9a51-0f7e2b8c1d01';
      const serveMonitor = async (peer: Peer, tag: number): Promise<void> => {
        const sent = await request(peer, 'monitor');
        peer.socket.write(JSON.stringify({ id: sent['id'], result: { Port: { [U]: { new: { name: 'tap1', tag } } } }, error: null }));
      };
      const first = await waitFor('the first connection', () => peers[before]);
      await serveMonitor(first, 1);
      await waitFor('the source to be connected', () => (source.connected ? true : undefined));
      first.socket.write(JSON.stringify({ id: null, method: 'update', params: ['hoptrace', { Port: { [U]: { old: { tag: 1 }, new: { name: 'tap1', tag: 2 } } } }] }));
      await waitFor('the change line', () => seen.find((l) => l === 'ovsdb Port: +0 ~1 -0'));
      expect(source.state()?.value.ports[0]?.tag).toBe(2);
      first.socket.destroy();
      const second = await waitFor('the reconnection', () => peers[before + 1]);
      await serveMonitor(second, 3);
      await waitFor('the reconnected line', () => seen.find((l) => l === 'ovsdb reconnected'));
      expect(source.state()?.value.ports[0]?.tag).toBe(3);
      expect(seen).toEqual(['ovsdb Port: +0 ~1 -0', 'ovsdb reconnected']);
    } finally {
      await source.close();
    }
  });

  it('change source: a server not there yet is reported once, then connected to when it comes', async () => {
    const latePath = join(dir, 'late.sock');
    const errors: OvsdbError[] = [];
    const source = new OvsdbChangeSource({ address: `unix:${latePath}`, reconnectMs: [20], onError: (e) => errors.push(e) });
    const seen: string[] = [];
    source.start((what) => seen.push(what));
    const late = createServer((socket) => {
      const splitter = new JsonStreamSplitter(1 << 20);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        for (const text of splitter.push(chunk)) {
          const m = JSON.parse(text) as { id: unknown; method: string };
          if (m.method === 'monitor') socket.write(JSON.stringify({ id: m.id, result: {}, error: null }));
        }
      });
      socket.on('error', () => undefined);
    });
    try {
      await waitFor('the outage to be reported', () => errors[0]);
      await new Promise<void>((resolve) => late.listen(latePath, resolve));
      await waitFor('the source to connect', () => (source.connected ? true : undefined));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'unavailable' });
      expect(seen).toEqual([]); // a first connection is no change: the agent snapshots at start anyway
      expect(source.state()?.value.tables).toEqual(['Open_vSwitch', 'Bridge', 'Port', 'Interface', 'sFlow']);
    } finally {
      await source.close();
      await new Promise<void>((resolve) => late.close(() => resolve()));
    }
  });
});
