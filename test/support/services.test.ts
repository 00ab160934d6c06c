import { describe, expect, it } from 'vitest';
import { isRequired, needService, ServiceUnavailableError, type SkipContext } from './services.js';

class Skipped extends Error {}

function context(): SkipContext & { notes: string[] } {
  const notes: string[] = [];
  return {
    notes,
    skip: (note?: string): never => {
      notes.push(note ?? '');
      throw new Skipped(note);
    },
  };
}

describe('needService', () => {
  it.each([
    { name: 'available: runs', env: {}, reason: undefined, outcome: 'run' },
    { name: 'missing, not required: skips with the reason', env: {}, reason: 'ovs-vswitchd not found', outcome: 'skip' },
    { name: 'missing, required: fails', env: { HOPTRACE_REQUIRE_SERVICES: 'chdb, ovs' }, reason: 'ovs-vswitchd not found', outcome: 'fail' },
    { name: 'missing, all required: fails', env: { HOPTRACE_REQUIRE_SERVICES: 'all' }, reason: 'ovs-vswitchd not found', outcome: 'fail' },
    { name: 'missing, another one required: skips', env: { HOPTRACE_REQUIRE_SERVICES: 'kafka,tshark' }, reason: 'ovs-vswitchd not found', outcome: 'skip' },
  ] as const)('$name', async ({ env, reason, outcome }) => {
    const ctx = context();
    const call = needService(ctx, 'ovs', async () => reason, env);
    if (outcome === 'run') {
      await expect(call).resolves.toBeUndefined();
      expect(ctx.notes).toEqual([]);
    } else if (outcome === 'skip') {
      await expect(call).rejects.toBeInstanceOf(Skipped);
      expect(ctx.notes).toEqual([`ovs: ${reason}`]);
    } else {
      await expect(call).rejects.toBeInstanceOf(ServiceUnavailableError);
      await expect(needService(ctx, 'ovs', () => reason, env)).rejects.toThrow(/required .*HOPTRACE_REQUIRE_SERVICES.*ovs-vswitchd not found/);
      expect(ctx.notes).toEqual([]);
    }
  });

  it('matches service names without regard to case or spacing', () => {
    expect(isRequired('OVS', { HOPTRACE_REQUIRE_SERVICES: ' chdb ,ovs,kafka' })).toBe(true);
    expect(isRequired('ovs', { HOPTRACE_REQUIRE_SERVICES: 'ovsdb' })).toBe(false);
    expect(isRequired('ovs', {})).toBe(false);
  });
});
