// Skip or fail when a test's real service is not available (STYLE.md "Skipping").
//
// On a developer machine without, say, Open vSwitch, the test is skipped with the command that
// installs it. On CI, HOPTRACE_REQUIRE_SERVICES lists the services that must be there
// ("ovs,chdb,kafka,tshark"); a missing one fails the test instead of hiding behind a skip
// (akvorado common/helpers/tests.go does the same with its CI variable).

/** The part of vitest's TestContext that is needed here. */
export interface SkipContext {
  skip: (note?: string) => never;
}

/** A probe says why the service cannot run (the skip note, with a hint to fix it), or undefined when it can. */
export type ServiceProbe = () => string | undefined | Promise<string | undefined>;

export const REQUIRE_SERVICES_ENV = 'HOPTRACE_REQUIRE_SERVICES';

/** The services the environment requires (comma- or space-separated; `all` requires every one). */
export function requiredServices(env: NodeJS.ProcessEnv = process.env): Set<string> {
  return new Set(
    (env[REQUIRE_SERVICES_ENV] ?? '')
      .split(/[\s,]+/)
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  );
}

export function isRequired(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const required = requiredServices(env);
  return required.has(name.toLowerCase()) || required.has('all');
}

/** The service cannot run although HOPTRACE_REQUIRE_SERVICES requires it. */
export class ServiceUnavailableError extends Error {
  override readonly name = 'ServiceUnavailableError';
  readonly service: string;
  readonly reason: string;
  constructor(service: string, reason: string) {
    super(`service '${service}' is required (${REQUIRE_SERVICES_ENV} lists it) but cannot run: ${reason}`);
    this.service = service;
    this.reason = reason;
  }
}

/**
 * Runs `probe`; when it reports a reason, skips the test (`ctx.skip(reason)`), or throws
 * ServiceUnavailableError when HOPTRACE_REQUIRE_SERVICES lists `name`.
 */
export async function needService(ctx: SkipContext, name: string, probe: ServiceProbe, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const reason = await probe();
  if (reason === undefined) return;
  if (isRequired(name, env)) throw new ServiceUnavailableError(name, reason);
  ctx.skip(`${name}: ${reason}`);
}
