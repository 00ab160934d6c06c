// Layered configuration: defaults < YAML file < HOPTRACE_* environment < flags, validated once by
// the zod schema. Errors name the key, the value's origin (file path, env var, flag) and what is
// expected. Only the CLI calls this; no other module reads process.env.
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { Config } from './schema.js';

type Layer = { origin: string; values: Record<string, unknown>; originOf: (path: string[]) => string };

/** Environment variables that share the prefix but are not configuration. */
const NOT_CONFIG = new Set(['HOPTRACE_REQUIRE_SERVICES', 'HOPTRACE_CONFIG']);

export interface LoadOptions {
  file?: string | undefined;
  env?: Record<string, string | undefined>;
  /** Values from flags, as a partial config tree. */
  flags?: Record<string, unknown>;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const layers: Layer[] = [];
  if (options.file !== undefined) layers.push(fileLayer(options.file));
  if (options.env !== undefined) layers.push(envLayer(options.env));
  if (options.flags !== undefined) {
    const flags = options.flags;
    layers.push({ origin: 'flags', values: flags, originOf: (path) => `flag for ${path.join('.')}` });
  }
  // Start from the complete defaults, so a layer that sets one key of a store or bus section keeps
  // the default `kind` (and a layer that changes `kind` replaces the section: see mergeDeep).
  let merged: Record<string, unknown> = structuredClone(Config.parse({})) as Record<string, unknown>;
  for (const layer of layers) merged = mergeDeep(merged, layer.values);
  const result = Config.safeParse(merged);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = (issue?.path ?? []).map(String);
  const key = path.join('.') || '(root)';
  const origin = [...layers].reverse().find((l) => hasPath(l.values, issue?.code === 'unrecognized_keys' ? [...path, ...(issue.keys ?? [])] : path));
  const where = origin?.originOf(issue?.code === 'unrecognized_keys' ? [...path, issue.keys[0] ?? ''] : path) ?? 'defaults';
  const code = issue?.code === 'unrecognized_keys' ? 'unknown-key' : 'bad-value';
  const lines = z.prettifyError(result.error).split('\n').filter((l) => l.trim() !== '');
  const detail = lines.length > 0 ? lines.join('; ') : 'invalid';
  throw new ConfigError(code, `config error in ${where}: ${detail}`, { key, origin: where });
}

function fileLayer(file: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('unreadable', `cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { key: '(file)', origin: file }, { cause: error });
  }
  let values: unknown;
  try {
    values = parseYaml(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const line = error.linePos?.[0]?.line;
      throw new ConfigError('unreadable', `${file}${line !== undefined ? `:${line}` : ''}: not valid YAML: ${error.message.split('\n')[0]}`, { key: '(file)', origin: file }, { cause: error });
    }
    throw error;
  }
  if (values === null || values === undefined) values = {};
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError('unreadable', `${file}: expected a YAML mapping at the top level`, { key: '(file)', origin: file });
  }
  return { origin: file, values: values as Record<string, unknown>, originOf: (path) => `${file} (${path.join('.')})` };
}

/** HOPTRACE_STORE__PATH=/x -> { store: { path: '/x' } }; HOPTRACE_COLLECTOR__RECEIVE_BUFFER -> receiveBuffer. */
function envLayer(env: Record<string, string | undefined>): Layer {
  const values: Record<string, unknown> = {};
  const names = new Map<string, string>();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('HOPTRACE_') || NOT_CONFIG.has(name) || raw === undefined) continue;
    const path = name.slice('HOPTRACE_'.length).split('__').map(camelFromEnv);
    names.set(path.join('.'), name);
    setPath(values, path, envValue(raw));
  }
  return {
    origin: 'environment',
    values,
    originOf: (path) => {
      for (let n = path.length; n > 0; n--) {
        const name = names.get(path.slice(0, n).join('.'));
        if (name !== undefined) return `environment variable ${name}`;
      }
      return 'environment';
    },
  };
}

function camelFromEnv(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Numbers, booleans and JSON arrays/objects are typed; everything else is a string. */
function envValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if ((raw.startsWith('[') && raw.endsWith(']')) || (raw.startsWith('{') && raw.endsWith('}'))) {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return raw.startsWith('[') ? raw.slice(1, -1).split(',').map((s) => s.trim()).filter((s) => s !== '') : raw;
    }
  }
  return raw;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function hasPath(values: Record<string, unknown>, path: string[]): boolean {
  let node: unknown = values;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !(key in node)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

export function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const prev = out[key];
    // A different store/bus kind replaces the whole section instead of mixing two kinds' keys.
    const kindChanged = isPlain(prev) && isPlain(value) && 'kind' in value && 'kind' in prev && prev['kind'] !== value['kind'];
    out[key] = isPlain(prev) && isPlain(value) && !kindChanged ? mergeDeep(prev, value) : value;
  }
  return out;
}

function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The effective config with secrets replaced, for `hoptrace config --dump`. */
export function redact(config: Config): Config {
  if (config.store.kind === 'server' && config.store.password !== '') {
    return { ...config, store: { ...config.store, password: '***' } };
  }
  return config;
}
