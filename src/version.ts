import { existsSync, readFileSync } from 'node:fs';

// The package version, read once from package.json (two levels up from src/ or dist/src/).
function readVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    const url = new URL(up, import.meta.url);
    if (!existsSync(url)) continue;
    const parsed = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
    if (parsed.name === 'hoptrace' && typeof parsed.version === 'string') return parsed.version;
  }
  return '0.0.0';
}

export const VERSION = readVersion();
