// Which rules counted packets between two `iptables-save -c` of the same host (or two `iptables
// -vnxL`; rule texts differ between the forms): the rules and chain policies whose packet counter
// grew. A rule is the same rule in both when it has the same table, chain and text and is the same
// occurrence of that text in its chain, so a rule inserted above it does not shift it. A counter
// that went down (rules reloaded, counters zeroed) is reported as `reset`, the new value as delta.
import type { IptablesRuleset } from './iptables-save.js';

export interface IptablesCounterDelta {
  table: string;
  chain: string;
  /** The rule's index in the second ruleset; null for the chain policy. */
  index: number | null;
  /** The rule text; null for the chain policy. */
  text: string | null;
  packets: bigint;
  bytes: bigint;
  reset: boolean;
}

function keyed(ruleset: IptablesRuleset): Map<string, { packets: bigint; bytes: bigint }> {
  const out = new Map<string, { packets: bigint; bytes: bigint }>();
  for (const table of ruleset.tables) {
    for (const chain of table.chains) {
      if (chain.counters !== null) out.set(JSON.stringify([table.name, chain.name, null, 0]), chain.counters);
      const seen = new Map<string, number>();
      for (const rule of chain.rules) {
        const n = (seen.get(rule.text) ?? 0) + 1;
        seen.set(rule.text, n);
        if (rule.counters !== null) out.set(JSON.stringify([table.name, chain.name, rule.text, n]), rule.counters);
      }
    }
  }
  return out;
}

/** Rules and policies of `after` whose packet counter moved since `before`, in `after`'s order. */
export function iptablesCounterDeltas(before: IptablesRuleset, after: IptablesRuleset): IptablesCounterDelta[] {
  const old = keyed(before);
  const out: IptablesCounterDelta[] = [];
  const consider = (table: string, chain: string, index: number | null, text: string | null, n: number, now: { packets: bigint; bytes: bigint } | null): void => {
    if (now === null) return;
    const was = old.get(JSON.stringify([table, chain, text, n])) ?? { packets: 0n, bytes: 0n };
    if (now.packets === was.packets) return;
    const reset = now.packets < was.packets;
    out.push({ table, chain, index, text, packets: reset ? now.packets : now.packets - was.packets, bytes: reset ? now.bytes : now.bytes - was.bytes, reset });
  };
  for (const table of after.tables) {
    for (const chain of table.chains) {
      consider(table.name, chain.name, null, null, 0, chain.counters);
      const seen = new Map<string, number>();
      for (const rule of chain.rules) {
        const n = (seen.get(rule.text) ?? 0) + 1;
        seen.set(rule.text, n);
        consider(table.name, chain.name, rule.index, rule.text, n, rule.counters);
      }
    }
  }
  return out.filter((d) => d.packets > 0n || d.reset);
}
