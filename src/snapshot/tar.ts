// Unpacking a tarball someone sent (a sosreport, an agent --out tree) with the system's GNU tar,
// as a hostile input. Before extracting: every member name is checked (no absolute path, no `..`
// component), every member type (files, directories, symlinks, hard links only: no device nodes
// or FIFOs, which tar run as root would create) and the total size. GNU tar creates symlinks whose
// target is absolute or holds `..` only at the end (as placeholders first), so no member is written
// through one; after extracting, every symlink whose target leaves the tree is removed and
// reported. tar runs through execFile with a fixed argument list.
import { execFile } from 'node:child_process';
import { readdir, readlink, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ParseError } from '../errors.js';

export const TARBALL = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.bz2|tbz2|tar\.zst)$/i;

export interface ExtractOptions {
  /** Sum of member sizes accepted (default 4 GiB: a big sosreport with logs is ~1 GiB). */
  maxBytes?: number;
  /** Members accepted (default 500 000). */
  maxMembers?: number;
}

export interface ExtractResult {
  /** Symlinks removed because they point outside the tree: `name -> target`. */
  removedLinks: string[];
}

const MEMBER_TYPES = new Set(['-', 'd', 'l', 'h']);

/** Extracts `file` into the (empty) directory `into`; ParseError when the archive is refused. */
export async function extractTarball(file: string, into: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const maxBytes = options.maxBytes ?? 4 * 1024 ** 3;
  const maxMembers = options.maxMembers ?? 500_000;
  const names = splitLines(await tar(file, ['-t', '-f', file]));
  if (names.length > maxMembers) throw new ParseError('bad-format', `${names.length} members, more than ${maxMembers}`, { source: file });
  for (const name of names) {
    const unquoted = name.replace(/\\\\/g, '\\');
    if (isAbsolute(unquoted) || /^[A-Za-z]:/.test(unquoted)) throw new ParseError('bad-format', `member ${JSON.stringify(name)} has an absolute path: archive refused`, { source: file });
    if (unquoted.split(/[\\/]/).includes('..')) throw new ParseError('bad-format', `member ${JSON.stringify(name)} climbs out with "..": archive refused`, { source: file });
  }
  const verbose = splitLines(await tar(file, ['-t', '-v', '-f', file]));
  let total = 0;
  for (const [i, line] of verbose.entries()) {
    const type = line[0] ?? '?';
    if (!MEMBER_TYPES.has(type)) throw new ParseError('bad-format', `member ${JSON.stringify(names[i] ?? line)} is of type "${type}" (device, FIFO...): archive refused`, { source: file });
    const size = /^\S+\s+\S+\s+(\d+)\s/.exec(line)?.[1];
    total += size === undefined ? 0 : Number(size);
    if (total > maxBytes) throw new ParseError('bad-format', `members add up to more than ${maxBytes} bytes: archive refused`, { source: file });
  }
  await tar(file, ['-x', '-f', file, '-C', into, '--no-same-owner', '--no-same-permissions', '--warning=no-timestamp']);
  return { removedLinks: await removeEscapingLinks(into) };
}

/** Removes symlinks under `root` whose target is absolute or resolves outside `root`. */
export async function removeEscapingLinks(root: string): Promise<string[]> {
  const removed: string[] = [];
  const base = resolve(root);
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) { await walk(path); continue; }
      if (!entry.isSymbolicLink()) continue;
      const target = await readlink(path);
      const landing = resolve(dirname(path), target);
      if (isAbsolute(target) || landing !== base && !landing.startsWith(`${base}${sep}`)) {
        await unlink(path);
        removed.push(`${relative(base, path)} -> ${target}`);
      }
    }
  };
  await walk(base);
  return removed;
}

function tar(file: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile('tar', args, { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) => {
      if (error === null) { resolvePromise(stdout); return; }
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'the tar command is not installed' : stderr.trim().split('\n').slice(-2).join('; ') || error.message;
      reject(new ParseError('bad-format', `tar ${args[0] ?? ''} failed: ${why}`, { source: file }));
    });
  });
}

function splitLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/** True for a path whose name says tarball. */
export function isTarball(path: string): boolean {
  return TARBALL.test(path);
}
