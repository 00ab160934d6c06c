import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixture, sosFixture } from '../../../test/fixtures/linux/load.js';
import { parseIpRoute } from './ip-route.js';

describe('parseIpRoute on the captured host', () => {
  const { value: routes, issues } = parseIpRoute(fixture('ip_route_show_table_all'), 'routes');
  const find = (dst: string, table = 'main') => routes.find((r) => r.dst === dst && r.table === table);

  it('reads every route, IPv4 and IPv6, without issues', () => {
    expect(issues).toEqual([]);
    const lines = fixture('ip_route_show_table_all').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('\t'));
    expect(routes).toHaveLength(lines.length);
    expect(routes.some((r) => r.family === 'inet6')).toBe(true);
  });

  it.each([
    { name: 'gateway with metric', dst: '203.0.113.0/26', table: 'main', want: { type: 'unicast', gateway: '198.51.100.254', dev: 'ext0', metric: 100, family: 'inet' } },
    { name: 'table 100', dst: '203.0.113.64/26', table: '100', want: { gateway: '198.51.100.253', dev: 'ext0' } },
    { name: 'connected', dst: '198.51.100.0/24', table: 'main', want: { protocol: 'kernel', scope: 'link', src: '198.51.100.1', gateway: null } },
    { name: 'blackhole', dst: '203.0.113.192/27', table: 'main', want: { type: 'blackhole', dev: null } },
    { name: 'unreachable', dst: '203.0.113.224/27', table: 'main', want: { type: 'unreachable' } },
    { name: 'local', dst: '198.51.100.1', table: 'local', want: { type: 'local', dev: 'ext0', scope: 'host' } },
    { name: 'broadcast', dst: '198.51.100.255', table: 'local', want: { type: 'broadcast' } },
    { name: 'IPv6 local', dst: '::1', table: 'local', want: { type: 'local', family: 'inet6', metric: 0 } },
  ])('$name', ({ dst, table, want }) => {
    expect(find(dst, table)).toMatchObject(want);
  });

  it('reads multipath next hops', () => {
    expect(find('203.0.113.128/26')?.nexthops).toEqual([
      { gateway: '198.51.100.254', dev: 'ext0', weight: 1, flags: [] },
      { gateway: '198.51.100.253', dev: 'ext0', weight: 2, flags: [] },
    ]);
  });

  it('reads the sosreport fixture', () => {
    const sos = parseIpRoute(sosFixture('ip_route_show_table_all'), 'sos');
    expect(sos.issues).toEqual([]);
    expect(sos.value.length).toBeGreaterThan(0);
  });
});

describe('parseIpRoute on bad input', () => {
  it.each([
    { name: 'not a route', input: 'hello\n', routes: 0, lines: [1] },
    { name: 'unknown attribute kept with the route', input: '192.0.2.0/24 dev x frob 1\n', routes: 1, lines: [1] },
    { name: 'bad metric', input: '192.0.2.0/24 dev x metric many\n', routes: 1, lines: [1] },
    { name: 'orphan nexthop', input: '\tnexthop via 192.0.2.1 dev x weight 1\n', routes: 0, lines: [1] },
    { name: 'default without gateway family', input: 'default dev x\n', routes: 1, lines: [] },
  ])('$name', ({ input, routes, lines }) => {
    const parsed = parseIpRoute(input, 'case');
    expect(parsed.value).toHaveLength(routes);
    expect(parsed.issues.map((i) => i.line)).toEqual(lines);
  });

  it('never throws on cut or damaged fixtures', () => {
    const text = fixture('ip_route_show_table_all');
    const json = fixture('agent/ip.route.json');
    fc.assert(fc.property(fc.nat(text.length), fc.nat(json.length), fc.string({ maxLength: 4 }), (a, b, s) => {
      for (const input of [text.slice(0, a) + s, json.slice(0, b) + s, text.slice(0, a) + s + text.slice(a)]) expect(Array.isArray(parseIpRoute(input, 'fuzz').value)).toBe(true);
    }), { numRuns: 200 });
  });
});
