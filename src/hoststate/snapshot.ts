// A host snapshot: the raw output of a fixed list of commands, run at one moment on one host.
// The agent produces it live; `hoptrace import` produces the same thing from an extracted
// sosreport or from an agent's --out directory. Parsing happens after, from this raw form only,
// so the agent and an import of the same host give the same topology by construction.

/** Where a snapshot came from. */
export type SnapshotSource = 'agent' | 'sosreport' | 'directory';

/** What made the agent take a snapshot. */
export type SnapshotTrigger = 'interval' | 'ovsdb-change' | 'start' | 'import';

/** One command's result. `id` is a CommandSpec id from commands.ts. */
export interface CommandOutput {
  /** The catalog id, e.g. "ovs-ofctl.dump-flows" (see COMMANDS). */
  id: string;
  /** The argument list actually run (or, for an import, the one sos ran). */
  argv: string[];
  /** Bridge name for per-bridge commands. */
  bridge?: string;
  /** Network namespace for per-namespace commands. */
  namespace?: string;
  /** Interface for per-interface commands (ethtool -S). */
  device?: string;
  /** Where the text came from: the sos file path, or "agent". */
  origin: string;
  stdout: string;
  stderr: string;
  /** Exit code; null when the command could not run at all (see error). */
  exitCode: number | null;
  /** Why the command failed to run or timed out: recorded, never fatal. */
  error?: string;
  durationMs?: number;
}

export interface RawSnapshot {
  format: 'hoptrace.snapshot.v1';
  /** Host name (`hostname`, or sos_commands/host/hostname, or the agent's --host). */
  host: string;
  /** When the snapshot was taken (ISO 8601, UTC). */
  takenAt: string;
  source: SnapshotSource;
  trigger: SnapshotTrigger;
  /** hoptrace version of the agent or importer. */
  producer: string;
  outputs: CommandOutput[];
}

/** Something a parser could not read: kept, reported, never fatal for the rest. */
export interface ParseIssue {
  /** File (sos path) or command id + argv the text came from. */
  source: string;
  /** 1-based line in that text; 0 when the issue concerns the whole text. */
  line: number;
  message: string;
  /** The offending line, trimmed to 200 characters. */
  text?: string;
}

/** A parser's answer: what it could read, and what it could not. */
export interface Parsed<T> {
  value: T;
  issues: ParseIssue[];
}

/** Cuts a line for a ParseIssue's text. */
export function issueText(line: string): string {
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
