// The Neutron ML2/OVS lab (test/lab): real frames cross GRE between lab hosts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { probeOvsLab } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';
import { createNeutronLab, type NeutronLab } from '../lab/neutron-lab.js';
import { dhcpRequest, ping } from '../lab/traffic.js';

const unavailable = await probeOvsLab();

describe('neutron lab', () => {
  let lab: NeutronLab | undefined;
  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createNeutronLab();
  });
  afterAll(async () => {
    await lab?.teardown();
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('carries an instance ping to the qdhcp port over GRE, and DHCP', async () => {
    if (lab === undefined) return;
    const vm1 = lab.instance('vm1');
    expect((await ping(vm1, lab.dhcp.ip, 3)).received).toBe(3);
    const dhcp = await dhcpRequest(vm1);
    expect(dhcp).toMatchObject({ acked: true, offered: vm1.ip, server: lab.dhcp.ip, router: lab.network.gatewayIp });
  });
});
