// The OVSDB parsers and client against a real ovsdb-server: the Neutron-like lab host of the
// fixtures (test/fixtures/ovsdb/neutron-host.ts), read live in every form, and the JSON-RPC
// client's monitor seeing a port being added and a tag being changed.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OvsdbClient, OvsdbError } from '../../src/hoststate/ovsdb/client.js';
import { buildOvsdbStateFromOutputs } from '../../src/hoststate/ovsdb/from-outputs.js';
import type { OvsdbChange } from '../../src/hoststate/ovsdb/monitor.js';
import { parseOvsdbClientDump } from '../../src/hoststate/ovsdb/ovsdb-client-dump.js';
import { buildOvsdbState, OVSDB_MODEL_TABLES, type OvsdbState } from '../../src/hoststate/ovsdb/state.js';
import { parseVsctlList } from '../../src/hoststate/ovsdb/vsctl-list.js';
import { parseVsctlShow, toOvsShow } from '../../src/hoststate/ovsdb/vsctl-show.js';
import { watchOvsdb, type OvsdbWatch } from '../../src/hoststate/ovsdb/watch.js';
import type { CommandOutput } from '../../src/hoststate/snapshot.js';
import { buildNeutronHost, NEUTRON } from '../fixtures/ovsdb/neutron-host.js';
import { run, waitFor } from '../support/netns.js';
import { createLab, probeOvsLab, type Lab, type OvsHost } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const WAIT = { timeoutMs: 30_000, intervalMs: 50 };
const OVSDB_TCP_PORT = 6640; // on the host's own mgmt0 address: no other listener there

const unavailable = await probeOvsLab();

describe('OVSDB of a real Neutron-like host', () => {
  let lab: Lab | undefined;
  let host: OvsHost;
  const clients: OvsdbClient[] = [];

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createLab();
    ({ host } = await buildNeutronHost(lab, 'compute1'));
  });

  afterAll(async () => {
    for (const client of clients) await client.close();
    await lab?.teardown();
  });

  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  async function connect(address = `unix:${host.dbSocket}`): Promise<OvsdbClient> {
    const client = await OvsdbClient.connect(address);
    clients.push(client);
    return client;
  }

  /** The model of the five lists, read now in the agent's JSON form or sos' text form. */
  async function listState(form: 'json' | 'text'): Promise<OvsdbState> {
    const outputs: CommandOutput[] = [];
    for (const table of OVSDB_MODEL_TABLES) {
      const argv = form === 'json' ? ['--format=json', '--data=json', 'list', table] : ['list', table.toLowerCase()];
      outputs.push({ id: `ovs-vsctl.list.${table}`, argv, origin: 'agent', stdout: await host.vsctl(argv), stderr: '', exitCode: 0 });
    }
    const parsed = buildOvsdbStateFromOutputs(outputs);
    expect(parsed.issues).toEqual([]);
    return parsed.value;
  }

  async function dumpState(format: 'json' | 'list'): Promise<OvsdbState> {
    const text = await run(null, ['ovsdb-client', '-f', format, 'dump', `unix:${host.dbSocket}`]);
    const parsed = parseOvsdbClientDump(text, `ovsdb-client -f ${format} dump`);
    expect(parsed.issues).toEqual([]);
    return buildOvsdbState(parsed.value).value;
  }

  it('every form of the live output gives the same model', async () => {
    const json = await listState('json');
    expect(await listState('text')).toEqual(json);
    expect(await dumpState('json')).toEqual(json);
    expect(await dumpState('list')).toEqual(json);
    const show = parseVsctlShow(await host.vsctl(['show']), 'ovs-vsctl show');
    expect(show.issues).toEqual([]);
    expect({ ...show.value, bridges: show.value.bridges.map((b) => ({ ...b, controllers: [] })) }).toEqual(toOvsShow(json));
    expect(json.ports.find((p) => p.name === NEUTRON.vm1.port)?.neutron?.segmentationId).toBe(NEUTRON.vm1.segmentationId);
    expect(json.interfaces.find((i) => i.name === NEUTRON.greName)?.options['remote_ip']).toBe(NEUTRON.greRemote);
  });

  it('client: list_dbs, select, and a failed transact as query-failed', async () => {
    const client = await connect();
    expect(await client.listDbs()).toContain('Open_vSwitch');
    const rows = await client.select('Open_vSwitch', 'Bridge', [['name', '==', 'br-int']], ['name', 'fail_mode', 'ports']);
    const [only] = rows.values();
    expect(rows.size).toBe(1);
    expect(only?.get('fail_mode')).toEqual({ kind: 'set', atoms: ['secure'] });
    const failed = client.transact('Open_vSwitch', [{ op: 'select', table: 'NoSuchTable', where: [] }]);
    await expect(failed).rejects.toBeInstanceOf(OvsdbError);
    await expect(failed).rejects.toMatchObject({ code: 'query-failed', method: 'transact' });
    await client.echo();
    expect(client.closed).toBe(false);
  });

  it('client over TCP (ovsdb-server listening on the host mgmt address)', async () => {
    await host.appctl(['ovsdb-server/add-remote', `ptcp:${OVSDB_TCP_PORT}:${host.mgmtAddress}`], { target: 'ovsdb-server' });
    const client = await waitFor('ovsdb-server to listen on TCP', () => connect(`tcp:${host.mgmtAddress}:${OVSDB_TCP_PORT}`), WAIT);
    expect(await client.listDbs()).toContain('Open_vSwitch');
  });

  it('monitor: sees a port being added and a tag change, and stays equal to the lists', async () => {
    const client = await connect();
    const watch: OvsdbWatch = await watchOvsdb(client, { monitorId: 'lab-test' });
    expect(watch.initialIssues).toEqual([]);
    expect(watch.state().value).toEqual(await listState('json'));
    const changes: OvsdbChange[] = [];
    const issues: unknown[] = [];
    watch.onChange((change, batchIssues) => {
      changes.push(change);
      issues.push(...batchIssues);
    });
    const portOf = (name: string) => watch.state().value.ports.find((p) => p.name === name);

    await host.vsctl(['add-port', 'br-int', 'qvo-lab', '--', 'set', 'Interface', 'qvo-lab', 'type=internal', '--', 'set', 'Port', 'qvo-lab', 'tag=7']);
    const added = await waitFor('the monitor to see qvo-lab', () => portOf('qvo-lab'), WAIT);
    expect(added).toMatchObject({ bridge: 'br-int', tag: 7, interfaces: ['qvo-lab'] });
    expect(changes.some((c) => c.tables.includes('Port') && c.inserted > 0)).toBe(true);
    const seen = changes.length;

    await host.vsctl(['set', 'Port', 'qvo-lab', 'tag=8']);
    await waitFor('the monitor to see tag 8', () => (portOf('qvo-lab')?.tag === 8 ? true : undefined), WAIT);
    expect(changes.slice(seen)).toContainEqual({ tables: ['Port'], inserted: 0, modified: 1, deleted: 0 });

    // ovs-vsctl without --no-wait returned once ovs-vswitchd applied the change: nothing is pending.
    await waitFor('the monitor to match the lists', async () => {
      const lists = await listState('json');
      const state = watch.state();
      expect(state.issues).toEqual([]);
      expect(state.value).toEqual(lists);
      return true;
    }, WAIT);
    expect(issues).toEqual([]);
    await watch.cancel();
  });

  it('a closed server connection fails pending and later requests as closed', async () => {
    const client = await connect();
    const closed = new Promise<OvsdbError | undefined>((resolve) => client.onClose(resolve));
    await client.close();
    expect(await closed).toBeUndefined();
    await expect(client.listDbs()).rejects.toMatchObject({ code: 'closed', retriable: true });
  });

  it('connecting to a socket nobody listens on is unavailable (retriable)', async () => {
    const connecting = OvsdbClient.connect(`unix:${host.dir}/no-such.sock`);
    await expect(connecting).rejects.toMatchObject({ code: 'unavailable', retriable: true });
  });
});
