// brctl is not installed on the capture machine (bridge-utils); the input is the layout of
// bridge-utils 1.7 brctl/brctl_cmd.c br_cmd_show (tabs as it prints them).
import { describe, expect, it } from 'vitest';
import { parseBrctlShow } from './brctl-show.js';

const SHOW = [
  'bridge name\tbridge id\t\tSTP enabled\tinterfaces',
  'qbr12345678-90\t\t8000.7af2e5240950\tno\t\tqvb12345678-90',
  '\t\t\t\t\t\t\ttap12345678-90',
  'qbrempty\t\t8000.000000000000\tyes\t\t',
  '',
].join('\n');

describe('parseBrctlShow', () => {
  it('reads bridges with their ports', () => {
    expect(parseBrctlShow(SHOW, 'brctl')).toEqual({
      value: [
        { name: 'qbr12345678-90', bridgeId: '8000.7af2e5240950', stp: false, interfaces: ['qvb12345678-90', 'tap12345678-90'] },
        { name: 'qbrempty', bridgeId: '8000.000000000000', stp: true, interfaces: [] },
      ],
      issues: [],
    });
  });

  it('reports a port line before any bridge and a bad bridge line', () => {
    const parsed = parseBrctlShow('\t\ttap1\nbr0 8000.1 maybe\n', 'brctl');
    expect(parsed.value).toEqual([]);
    expect(parsed.issues.map((i) => i.line)).toEqual([1, 2]);
  });
});
