import { describe, expect, it } from 'vitest';
import { captureInfo, fixture, sosFixture } from '../../../test/fixtures/linux/load.js';
import { parseIpNetns } from './ip-netns.js';

describe('parseIpNetns', () => {
  it('reads names and ids of the captured host', () => {
    const info = captureInfo();
    const { value, issues } = parseIpNetns(fixture('ip_netns'), 'ip_netns');
    expect(issues).toEqual([]);
    for (const p of info.ports) expect(value.find((n) => n.name === p.vmNetns)?.id).toEqual(expect.any(Number));
    expect(value.find((n) => n.name === info.host)).toEqual({ name: info.host, id: null }); // itself: no nsid
  });

  it('reads the sos form', () => {
    expect(parseIpNetns(sosFixture('ip_netns'), 'sos').value).toEqual([{ name: 'qrouter-7e5b2c2a', id: 1 }, { name: 'qdhcp-41d0c3f6', id: 2 }]);
  });

  it('reports a bad line and a nameless JSON entry', () => {
    expect(parseIpNetns('a (id: x)\nb\n', 's').issues.map((i) => i.line)).toEqual([1]);
    expect(parseIpNetns('[{"id":1},{"name":"b"}]', 's')).toEqual({ value: [{ name: 'b', id: null }], issues: [{ source: 's', line: 1, message: 'namespace without a name' }] });
  });
});
