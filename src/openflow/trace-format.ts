// A walk printed the way `ovs-appctl ofproto/trace` prints a translation: one block per bridge,
// one line per rule (`TABLE. MATCH, priority P[, cookie C]`) with its actions below it, notes as
// ` -> ...`, then the final frame and, instead of datapath actions, the dispositions.
import { splitTopLevel } from './actions.js';
import { describeFrame } from './frame.js';
import type { Disposition, TraceStep, WalkResult } from './walk.js';

function ruleLine(step: Extract<TraceStep, { kind: 'rule' }>): string {
  const parts = [];
  if (step.match !== '') parts.push(step.match);
  parts.push(`priority ${step.priority}`);
  if (step.cookie !== 0n) parts.push(`cookie 0x${step.cookie.toString(16)}`);
  return `${String(step.table).padStart(2)}. ${parts.join(', ')}`;
}

export function formatDisposition(d: Disposition): string {
  const where = `${d.host}/${d.bridge}`;
  switch (d.kind) {
    case 'output': {
      const vlan = d.vlan === undefined ? 'untagged' : `vlan ${d.vlan}`;
      const tunnel = d.tunnel === undefined ? '' : ` tunnel to ${d.tunnel.remoteIp} key 0x${d.tunnel.key.toString(16)}`;
      return `output ${where} port ${d.port}${d.portName === undefined ? '' : ` (${d.portName})`} ${vlan}${tunnel}${d.tunId !== 0n && d.tunnel === undefined ? ` tun_id 0x${d.tunId.toString(16)}` : ''}`;
    }
    case 'drop': {
      const rule = d.rule === undefined ? '' : ` by table ${d.rule.table} priority ${d.rule.priority}${d.rule.match === '' ? '' : ` ${d.rule.match}`}`;
      return `drop ${where}${d.table === undefined || d.rule !== undefined ? '' : ` table ${d.table}`}${rule}: ${d.reason} (${d.detail})`;
    }
    case 'undecidable':
      return `undecidable ${where}${d.table === undefined ? '' : ` table ${d.table}`}: ${d.reason} (${d.detail})`;
    default: {
      const never: never = d;
      return never;
    }
  }
}

/** The trace as text, ofproto/trace style. */
export function formatTrace(result: WalkResult): string {
  const out: string[] = [];
  for (const step of result.steps) {
    switch (step.kind) {
      case 'bridge': {
        const title = `bridge("${step.bridge}")${step.via === 'tunnel' ? ` on ${step.host}` : ''}`;
        out.push('', title, '-'.repeat(title.length));
        if (step.via !== 'patch') out.push(` in_port=${step.inPort}${step.inPortName === undefined ? '' : ` (${step.inPortName})`}`);
        break;
      }
      case 'rule':
        out.push(ruleLine(step));
        for (const action of splitTopLevel(step.actions)) out.push(`    ${action}`);
        break;
      case 'no-match':
        out.push(`${String(step.table).padStart(2)}. No match.`, '    drop');
        break;
      case 'resubmit':
        break;
      case 'output':
        out.push(`     -> output to ${step.portName ?? step.port}`);
        break;
      case 'tunnel':
        out.push(`     -> tunnel ${step.portName} to ${step.remoteIp} (key 0x${step.tunId.toString(16)})${step.toHost === undefined ? '' : `, host ${step.toHost}`}`);
        break;
      case 'note':
        out.push(`     -> ${step.text}`);
        break;
      default: {
        const never: never = step;
        return never;
      }
    }
  }
  out.push('', `Final flow: ${describeFrame(result.finalFields)}`);
  out.push(...result.dispositions.map((d) => `Disposition: ${formatDisposition(d)}`));
  return `${out.join('\n').replace(/^\n/, '')}\n`;
}
