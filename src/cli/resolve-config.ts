// The CLI is the only place that reads process.env: it layers defaults < --config file <
// HOPTRACE_* < flags into one validated Config.
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { GlobalFlags } from './main.js';

export function resolveConfig(globals: GlobalFlags, flags: Record<string, unknown> = {}): Config {
  const file = globals.config ?? process.env['HOPTRACE_CONFIG'];
  const withLog = globals.logLevel === undefined ? flags : mergeFlags(flags, { log: { level: globals.logLevel } });
  return loadConfig({ file, env: process.env, flags: withLog });
}

/** Builds a partial config tree from flags, leaving out those not given. */
export function flagTree(entries: [path: string, value: unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, value] of entries) {
    if (value === undefined) continue;
    const keys = path.split('.');
    let node = out;
    for (const key of keys.slice(0, -1)) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys[keys.length - 1] as string] = value;
  }
  return out;
}

function mergeFlags(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = typeof prev === 'object' && prev !== null && typeof v === 'object' && v !== null ? mergeFlags(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}
