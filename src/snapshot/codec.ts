// RawSnapshot as JSON: what the agent POSTs to the collector, what the collector publishes on the
// bus (topic hoptrace.snapshots.v1, key = host), what `hoptrace import` hands on. Input from the
// network is hostile: every field is checked against the schema below and against size limits
// before anything else looks at it, and a failure is one line naming the bad field's path.
import { z } from 'zod';
import { ParseError } from '../errors.js';
import type { CommandOutput, RawSnapshot } from '../hoststate/snapshot.js';

/** Size limits of one snapshot. A real host (Neutron network node, ~200 ports) stays far below them. */
export const SNAPSHOT_LIMITS = {
  /** The whole JSON document (what the collector accepts by default, too). */
  maxBytes: 16 * 1024 * 1024,
  /** Command outputs in one snapshot: host commands + per bridge + per namespace + ethtool. */
  maxOutputs: 20_000,
  /** One command's stdout (a dump-flows of 100k rules is ~30 MiB: above the whole limit anyway). */
  maxStdoutChars: 16 * 1024 * 1024,
  maxStderrChars: 1024 * 1024,
  maxArgs: 64,
  maxArgChars: 4096,
  /** Host, bridge, namespace and device names. */
  maxNameChars: 255,
  maxTextChars: 4096,
} as const;

/** Host names become directory names (agent layout): no separators, no dot-only names. */
export const HOST_NAME = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,253}$/;
/** Bridge, namespace and device names: what OVS and iproute2 accept, minus path separators and NUL. */
const OBJECT_NAME = /^(?!\.{1,2}$)[^/\0\n]{1,255}$/;
const COMMAND_ID = /^[A-Za-z0-9._-]{1,100}$/;

const name = (what: string) => z.string().regex(OBJECT_NAME, `${what}: 1-255 characters, no "/", NUL or newline, not "." or ".."`);

export const CommandOutputSchema = z.strictObject({
  id: z.string().regex(COMMAND_ID, 'catalog id: 1-100 characters of A-Z a-z 0-9 . _ -'),
  argv: z.array(z.string().max(SNAPSHOT_LIMITS.maxArgChars)).max(SNAPSHOT_LIMITS.maxArgs),
  bridge: name('bridge name').optional(),
  namespace: name('namespace name').optional(),
  device: name('device name').optional(),
  origin: z.string().min(1).max(SNAPSHOT_LIMITS.maxTextChars),
  stdout: z.string().max(SNAPSHOT_LIMITS.maxStdoutChars),
  stderr: z.string().max(SNAPSHOT_LIMITS.maxStderrChars),
  exitCode: z.number().int().min(-255).max(255).nullable(),
  error: z.string().max(SNAPSHOT_LIMITS.maxTextChars).optional(),
  durationMs: z.number().min(0).max(86_400_000).optional(),
});

export const RawSnapshotSchema = z.strictObject({
  format: z.literal('hoptrace.snapshot.v1'),
  host: z.string().regex(HOST_NAME, 'host: 1-253 characters of A-Z a-z 0-9 . _ -, not "." or ".."'),
  takenAt: z.iso.datetime({ offset: false, message: 'takenAt: an ISO 8601 UTC time such as 2026-11-25T08:30:00.000Z' }),
  source: z.enum(['agent', 'sosreport', 'directory']),
  trigger: z.enum(['interval', 'ovsdb-change', 'start', 'import']),
  producer: z.string().min(1).max(100),
  outputs: z.array(CommandOutputSchema).max(SNAPSHOT_LIMITS.maxOutputs),
});

export interface DecodeSnapshotOptions {
  /** Where the bytes came from, for messages ("POST /v1/snapshots from 192.0.2.7", a file path). */
  source?: string;
  maxBytes?: number;
}

export function encodeSnapshot(snapshot: RawSnapshot): Buffer {
  return Buffer.from(JSON.stringify(snapshot), 'utf8');
}

/** JSON bytes (or text) to a checked RawSnapshot; ParseError('bad-format'|'truncated') otherwise. */
export function decodeSnapshot(input: Uint8Array | string, options: DecodeSnapshotOptions = {}): RawSnapshot {
  const source = options.source ?? 'snapshot';
  const maxBytes = options.maxBytes ?? SNAPSHOT_LIMITS.maxBytes;
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > maxBytes) throw new ParseError('bad-format', `snapshot of ${size} bytes is over the limit of ${maxBytes}`, { source });
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ParseError(text.trim() === '' ? 'truncated' : 'bad-format', `not JSON: ${error.message}`, { source });
  }
  return validateSnapshot(value, source);
}

/** Checks a parsed value against the schema (every field) and returns it as a RawSnapshot. */
export function validateSnapshot(value: unknown, source = 'snapshot'): RawSnapshot {
  const result = RawSnapshotSchema.safeParse(value);
  if (!result.success) throw new ParseError('bad-format', describeIssues(result.error), { source });
  const parsed = result.data;
  return {
    format: parsed.format,
    host: parsed.host,
    takenAt: parsed.takenAt,
    source: parsed.source,
    trigger: parsed.trigger,
    producer: parsed.producer,
    outputs: parsed.outputs.map(toOutput),
  };
}

function toOutput(o: z.infer<typeof CommandOutputSchema>): CommandOutput {
  const out: CommandOutput = { id: o.id, argv: o.argv, origin: o.origin, stdout: o.stdout, stderr: o.stderr, exitCode: o.exitCode };
  if (o.bridge !== undefined) out.bridge = o.bridge;
  if (o.namespace !== undefined) out.namespace = o.namespace;
  if (o.device !== undefined) out.device = o.device;
  if (o.error !== undefined) out.error = o.error;
  if (o.durationMs !== undefined) out.durationMs = o.durationMs;
  return out;
}

/** The first issue as `path: message`, plus how many more there are (one line). */
export function describeIssues(error: z.ZodError): string {
  const [first, ...rest] = error.issues;
  if (first === undefined) return 'invalid snapshot';
  const more = rest.length > 0 ? ` (and ${rest.length} more issue${rest.length > 1 ? 's' : ''})` : '';
  return `${issuePath(first.path)}: ${first.message}${more}`;
}

/** zod's path as the field's JSON path: outputs[3].exitCode. */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(document)' : out;
}
