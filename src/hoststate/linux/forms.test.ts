// Text (sos) and JSON (agent) forms of the same command, captured one after the other from real
// namespaces (test/fixtures/linux/capture.ts), parse to deep-equal values without issues.
import { describe, expect, it } from 'vitest';
import { fixture, FORM_PAIRS } from '../../../test/fixtures/linux/load.js';
import type { Parsed } from '../snapshot.js';
import { parseBridgeFdb } from './bridge-fdb.js';
import { parseBridgeLink } from './bridge-link.js';
import { parseIpAddrOneline } from './ip-address.js';
import { parseIpLink } from './ip-link.js';
import { parseIpNeigh } from './ip-neigh.js';
import { parseIpNetns } from './ip-netns.js';
import { parseIpRoute } from './ip-route.js';

function parserFor(file: string): (text: string, source: string) => Parsed<unknown[]> {
  if (file.includes('address') || file.includes('link') && file.startsWith('ip')) {
    const netns = parseIpNetns(fixture(file.startsWith('vm1/') ? 'vm1/ip_netns' : 'ip_netns'), 'ip_netns').value;
    return (text, source) => parseIpLink(text, source, { netns });
  }
  if (file.includes('-o_addr')) return parseIpAddrOneline;
  if (file.includes('route')) return parseIpRoute;
  if (file.includes('neigh')) return parseIpNeigh;
  if (file.includes('netns')) return parseIpNetns;
  if (file.includes('fdb')) return parseBridgeFdb;
  return parseBridgeLink;
}

describe.each(FORM_PAIRS)('%s and %s', (textFile, jsonFile) => {
  const parse = parserFor(textFile);
  const text = parse(fixture(textFile), textFile);
  const json = parse(fixture(jsonFile), jsonFile);

  it('parse without issues', () => {
    expect(text.issues).toEqual([]);
    expect(json.issues).toEqual([]);
    expect(text.value.length).toBeGreaterThan(0);
  });

  it('give deep-equal values', () => {
    expect(text.value).toEqual(json.value);
  });
});

describe('without the namespace list', () => {
  it('text keeps the peer namespace name and JSON its id', () => {
    const text = parseIpLink(fixture('ip_-d_address'), 'text').value.find((d) => d.name.startsWith('tap'));
    const json = parseIpLink(fixture('agent/ip.address.json'), 'json').value.find((d) => d.name.startsWith('tap'));
    expect(text?.linkNetns?.name).toMatch(/-vm1$/);
    expect(text?.linkNetns?.id).toBeNull();
    expect(json?.linkNetns).toEqual({ id: 0, name: null });
  });
});
