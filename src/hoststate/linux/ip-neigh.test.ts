import { describe, expect, it } from 'vitest';
import { fixture } from '../../../test/fixtures/linux/load.js';
import { parseIpNeigh } from './ip-neigh.js';

describe('parseIpNeigh', () => {
  it('reads the captured cache: a learnt and a permanent neighbour', () => {
    const { value, issues } = parseIpNeigh(fixture('ip_-s_-s_neigh_show'), 'neigh');
    expect(issues).toEqual([]);
    expect(value.find((n) => n.dst === '198.51.100.254')).toMatchObject({ dev: 'ext0', state: ['REACHABLE'], router: false });
    expect(value.find((n) => n.dst === '198.51.100.253')).toEqual({ dst: '198.51.100.253', dev: 'ext0', lladdr: '02:00:00:00:00:fd', router: false, state: ['PERMANENT'] });
  });

  it.each([
    { name: 'plain form', input: '192.0.2.11 dev qbr1 lladdr fa:16:3e:11:22:33 STALE', want: { dst: '192.0.2.11', dev: 'qbr1', lladdr: 'fa:16:3e:11:22:33', router: false, state: ['STALE'] } },
    { name: 'failed, no lladdr, glued probes (iproute2 6.1)', input: '198.51.100.2 dev x  used 16/108/13probes 6 FAILED', want: { dst: '198.51.100.2', dev: 'x', lladdr: null, router: false, state: ['FAILED'] } },
    { name: 'router', input: '192.0.2.1 dev x lladdr 02:00:00:00:00:01 router REACHABLE', want: { router: true } },
    { name: 'JSON router is null', input: '[{"dst":"192.0.2.1","dev":"x","lladdr":"02:00:00:00:00:01","router":null,"state":["REACHABLE"]}]', want: { router: true, state: ['REACHABLE'] } },
  ])('$name', ({ input, want }) => {
    const { value, issues } = parseIpNeigh(input, 'case');
    expect(issues).toEqual([]);
    expect(value[0]).toMatchObject(want);
  });

  it('reports lines it cannot read and keeps the others', () => {
    const parsed = parseIpNeigh('garbage\n192.0.2.1 dev x lladdr 02:00:00:00:00:01 wobbly REACHABLE\n192.0.2.2 dev x FAILED\n', 'case');
    expect(parsed.value.map((n) => n.dst)).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(parsed.issues.map((i) => [i.line, i.message])).toEqual([[1, 'not a neighbour line'], [2, 'unknown neighbour attribute wobbly']]);
  });
});
