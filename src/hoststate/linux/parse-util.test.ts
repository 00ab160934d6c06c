import { describe, expect, it } from 'vitest';
import type { ParseIssue } from '../snapshot.js';
import { jsonArrayElements } from './parse-util.js';

describe('jsonArrayElements', () => {
  it.each([
    { name: 'whole array', input: '[{"a":1},\n {"b":"]}"}]', values: [{ a: 1 }, { b: ']}' }], lines: [] as number[] },
    { name: 'cut inside the second element', input: '[{"a":1},\n {"b":', values: [{ a: 1 }], lines: [2] },
    { name: 'cut after an element', input: '[{"a":1},', values: [{ a: 1 }], lines: [1] },
    { name: 'stray brace', input: '[} , {"a":1}]', values: [{ a: 1 }], lines: [1] },
    { name: 'trailing text', input: '[1] x', values: [1], lines: [1] },
    { name: 'bare object', input: '{"a":1}', values: [{ a: 1 }], lines: [] },
    { name: 'not JSON', input: 'nope', values: [], lines: [1] },
    { name: 'escaped quote', input: '["a\\"]"]', values: ['a"]'], lines: [] },
  ])('$name', ({ input, values, lines }) => {
    const issues: ParseIssue[] = [];
    expect(jsonArrayElements(input, 's', issues).map((e) => e.value)).toEqual(values);
    expect(issues.map((i) => i.line)).toEqual(lines);
  });
});
