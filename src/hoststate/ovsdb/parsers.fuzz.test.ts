// Every text parser, fed random lines and damaged real fixtures: a value with issues, never an
// exception, and every issue points at a line of the input (STYLE.md "Text parsers get random lines").
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentList, fixture, flipCharacters, sosList, SYNTAX_CHARACTERS } from '../../../test/fixtures/ovsdb/load.js';
import type { Parsed } from '../snapshot.js';
import { parseTableUpdates } from './monitor.js';
import { parseOvsdbClientDump } from './ovsdb-client-dump.js';
import { buildOvsdbState } from './state.js';
import { parseVsctlList } from './vsctl-list.js';
import { parseVsctlShow } from './vsctl-show.js';

const PARSERS: Array<[string, (text: string) => Parsed<unknown>, string]> = [
  ['parseVsctlList (text)', (t) => parseVsctlList(t, 'f'), sosList('interface')],
  ['parseVsctlList (JSON)', (t) => parseVsctlList(t, 'f'), agentList('Interface')],
  ['parseOvsdbClientDump (list)', (t) => parseOvsdbClientDump(t, 'f'), fixture('ovsdb-client_-f_list_dump')],
  ['parseOvsdbClientDump (JSON)', (t) => parseOvsdbClientDump(t, 'f'), fixture('agent/ovsdb-client.dump.json')],
  ['parseVsctlShow', (t) => parseVsctlShow(t, 'f'), fixture('ovs-vsctl_-t_5_show')],
];

const line = fc.string({ unit: fc.constantFrom(...SYNTAX_CHARACTERS, 'tap1', '_uuid : ', 'Bridge ', '    ', ' table'), maxLength: 30 });
const flips = fc.array(fc.record({ at: fc.nat(), to: fc.constantFrom(...SYNTAX_CHARACTERS) }), { minLength: 1, maxLength: 8 });

function checkIssues(text: string, parsed: Parsed<unknown>): void {
  const lines = text.split('\n').length;
  for (const issue of parsed.issues) {
    expect(issue.line).toBeGreaterThanOrEqual(0);
    expect(issue.line).toBeLessThanOrEqual(lines);
    expect((issue.text ?? '').length).toBeLessThanOrEqual(200);
  }
}

describe.each(PARSERS)('%s', (_name, parse, real) => {
  it('random lines: a value and issues, never an exception', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
        const text = lines.join('\n');
        checkIssues(text, parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('the real output with characters flipped: never an exception', () => {
    fc.assert(
      fc.property(flips, (changes) => {
        const text = flipCharacters(real, changes);
        const parsed = parse(text);
        checkIssues(text, parsed);
      }),
      { numRuns: 100 },
    );
  });
});

describe('buildOvsdbState on damaged rows', () => {
  it('damaged text lists still build a model without an exception', () => {
    fc.assert(
      fc.property(flips, flips, (a, b) => {
        const tables = new Map([
          ['Bridge', parseVsctlList(flipCharacters(sosList('bridge'), a), 'b').value],
          ['Interface', parseVsctlList(flipCharacters(sosList('interface'), b), 'i').value],
          ['Port', parseVsctlList(sosList('port'), 'p').value],
        ]);
        const built = buildOvsdbState(tables);
        expect(built.value.tables).toEqual(['Bridge', 'Port', 'Interface']);
      }),
      { numRuns: 100 },
    );
  });

  it('random JSON in monitor updates: issues, never an exception', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (json) => {
        parseTableUpdates(json, 'u');
        parseTableUpdates({ Port: json }, 'u');
        parseTableUpdates({ Port: { u: { new: json } } }, 'u');
      }),
      { numRuns: 300 },
    );
  });
});
