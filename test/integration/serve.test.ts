// The embedded service end to end, on real parts: a UDP socket on loopback, the in-process bus, the
// real decoder and chDB on disk. Datagrams from the real-OVS corpus plus hostile ones go in; the
// store must hold every sample, and every datagram must be accounted for (decoded or quarantined).
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/log.js';
import { readUdpPayloads } from '../../src/pcap/pcap-reader.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { waitFor } from '../support/wait.js';

const CORPUS = new URL('../../../shared/testdata/corpus/ovs-sflow-10k.pcap', import.meta.url);
const DATAGRAMS = 2000; // the first 2000 of the corpus: enough for every code path, quick to store

describe.each(['dgram', 'native'] as const)('hoptrace serve (embedded: memory bus + chDB), %s receiver', (receiver) => {
  let dir: string;
  let service: RunningService;
  let expectedFlows = 0;
  let expectedCounters = 0;
  const garbage = [
    Buffer.from('not sflow at all'),                    // bad-version
    Buffer.from([0, 0, 0, 5, 0, 0, 0, 1, 127]),         // truncated header
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-serve-'));
    const config = loadConfig({
      flags: {
        collector: { listen: '127.0.0.1:0', receiver },
        http: { listen: '127.0.0.1:0' },
        store: { kind: 'chdb', path: join(dir, 'data') },
        pipeline: { batchInterval: '200ms' },
      },
    });
    service = await startService(config, { role: 'all', log: createLogger({ level: 'silent', format: 'json' }) });
  });

  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores every sample of the corpus and quarantines what is not sFlow', async () => {
    const packets = [...readUdpPayloads(readFileSync(CORPUS), 'ovs-sflow-10k.pcap')].slice(0, DATAGRAMS);
    const { decodeDatagram } = await import('../../src/sflow/datagram.js');
    for (const p of packets) {
      for (const s of decodeDatagram(p.payload).samples) {
        if (s.kind === 'flow') expectedFlows++;
        else if (s.kind === 'counter') expectedCounters++;
      }
    }
    const socket = createSocket('udp4');
    for (let i = 0; i < packets.length; i++) {
      const payload = packets[i]?.payload as Uint8Array;
      await new Promise<void>((resolve, reject) => socket.send(payload, service.udpPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5)); // a gentle pace: this tests correctness, not speed
    }
    for (const g of garbage) await new Promise<void>((resolve, reject) => socket.send(g, service.udpPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    socket.close();

    const store = service.store;
    if (store === undefined) throw new Error('no store');
    const total = packets.length + garbage.length;
    await waitFor('all datagrams stored', async () => {
      const [row] = await store.query<{ n: string }>('SELECT count() AS n FROM sflow_datagrams');
      return Number(row?.n) >= total ? true : undefined;
    });
    const [flows] = await store.query<{ n: string }>('SELECT count() AS n FROM flow_samples');
    const [counters] = await store.query<{ n: string }>('SELECT count() AS n FROM counter_samples');
    const quarantine = await store.query<{ error_code: string; n: string }>('SELECT error_code, count() AS n FROM quarantine GROUP BY error_code ORDER BY error_code');
    expect(Number(flows?.n)).toBe(expectedFlows);
    expect(Number(counters?.n)).toBe(expectedCounters);
    expect(quarantine.map((q) => [q.error_code, Number(q.n)])).toEqual([['bad-version', 1], ['truncated', 1]]);
    // received = decoded + quarantined
    const [accounted] = await store.query<{ n: string }>("SELECT count() AS n FROM sflow_datagrams");
    expect(Number(accounted?.n)).toBe(total);
  });

  it('answers /health and /metrics with what it did', async () => {
    const health = (await (await fetch(`http://127.0.0.1:${service.httpPort}/health`)).json()) as Record<string, unknown>;
    expect(health['status']).toBe('ok');
    expect((health['collector'] as { received: number }).received).toBe(DATAGRAMS + garbage.length);
    const metrics = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`hoptrace_collector_datagrams_received_total\\{exporter="127.0.0.1"\\} ${DATAGRAMS + garbage.length}`));
    expect(metrics).toMatch(/hoptrace_quarantine_rows_total\{source="sflow",code="bad-version"\} 1/);
    expect(metrics).toMatch(new RegExp(`hoptrace_sflow_samples_decoded_total\\{kind="flow"\\} ${expectedFlows}`));
    expect((await fetch(`http://127.0.0.1:${service.httpPort}/nope`)).status).toBe(404);
  });

  it('serves read-only SQL on /v1/query and refuses writes', async () => {
    const url = `http://127.0.0.1:${service.httpPort}/v1/query`;
    const ok = await fetch(url, { method: 'POST', body: JSON.stringify({ sql: 'SELECT count() AS n FROM flow_samples WHERE agent = {agent:String}', params: { agent: '127.0.0.1' } }) });
    expect(ok.status).toBe(200);
    expect(JSON.parse(await ok.text())).toEqual({ n: String(expectedFlows) });
    const write = await fetch(url, { method: 'POST', body: JSON.stringify({ sql: 'DROP TABLE flow_samples' }) });
    expect(write.status).toBe(403);
    const bad = await fetch(url, { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
  });
});
