import { stringify } from 'yaml';
import { redact } from '../../config/load.js';
import type { GlobalFlags } from '../main.js';
import { resolveConfig } from '../resolve-config.js';
import { toJson } from '../json.js';

export function runConfig(options: { json?: boolean }, globals: GlobalFlags): void {
  const config = redact(resolveConfig(globals));
  process.stdout.write(options.json === true ? `${toJson(config, 2)}\n` : stringify(config));
}
