// The CLI is the only place that reads process.env: it layers defaults < --config file <
// HOPTRACE_* < flags into one validated Config.
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { GlobalFlags } from './main.js';

export function resolveConfig(globals: GlobalFlags, flags: Record<string, unknown> = {}): Config {
  const file = globals.config ?? process.env['HOPTRACE_CONFIG'];
  const withLog = globals.logLevel === undefined ? flags : mergeFlags(flags, { log: { level: globals.logLevel } });
  return loadConfig({ file, env: process.env, flags: withLog });
}

/**
 * --data DIR: the embedded store's directory. Refused when the configuration selects a ClickHouse
 * server, rather than silently switching stores.
 */
export function resolveWithDataDir(globals: GlobalFlags, flags: Record<string, unknown>, data: string | undefined): Config {
  const config = resolveConfig(globals, flags);
  if (data === undefined) return config;
  if (config.store.kind !== 'chdb') {
    throw new UsageError('--data applies to the embedded store (store.kind chdb), but the configuration selects a ClickHouse server (store.kind server)');
  }
  return { ...config, store: { ...config.store, path: data } };
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
