// What the walk needs to know about a bridge (WalkBridge), and its pre-computed index: rules per
// table sorted by priority (then dump order), each match flattened to parallel slot/mask/value
// arrays, port names in matches and actions resolved to numbers, the FDB keyed by (VLAN, MAC).
// Built once per WalkBridge object and cached, so that walking a frame does no string work.
import { FIELD } from './fields.js';
import type { OfAction, OfFlow } from './types.js';
import { parseMac } from './values.js';

export type WalkPortType = 'system' | 'internal' | 'patch' | 'gre' | 'vxlan' | 'geneve' | 'stt' | 'erspan' | 'other';

export const TUNNEL_TYPES: ReadonlySet<string> = new Set(['gre', 'vxlan', 'geneve', 'stt', 'erspan', 'ip6gre', 'gtpu', 'bareudp']);

/** One OVS port (with its interface) as the walk sees it (OVSDB Port + Interface). */
export interface WalkPort {
  ofport: number;
  name: string;
  /** Interface.type; '' or 'system' for a kernel device. The bridge's own port is 'internal' with ofport 65534 (LOCAL). */
  type: string;
  /** Port.tag: the access VLAN. */
  tag?: number;
  /** Port.trunks; empty or absent = every VLAN. */
  trunks?: readonly number[];
  /** Port.vlan_mode; absent = access when tag is set, else trunk (OVS's default). */
  vlanMode?: 'access' | 'trunk' | 'native-tagged' | 'native-untagged' | 'dot1q-tunnel';
  /** Patch: options:peer (a port name on the same host). */
  peer?: string;
  /** Tunnel options: remote_ip ('flow' allowed), local_ip, key / in_key / out_key ('flow' or a number). */
  remoteIp?: string;
  localIp?: string;
  key?: string;
  inKey?: string;
  outKey?: string;
  /** `ovs-ofctl mod-port ... no-flood` (config NO_FLOOD): excluded from FLOOD and NORMAL's flooding. */
  noFlood?: boolean;
}

export interface WalkFdbEntry {
  ofport: number;
  vlan: number;
  mac: string;
}

export interface WalkBridge {
  name: string;
  flows: readonly OfFlow[];
  ports: readonly WalkPort[];
  /** `ovs-appctl fdb/show`: the MAC table NORMAL forwards by. */
  fdb: readonly WalkFdbEntry[];
}

/**
 * The hosts and bridges a walk can reach. Return the same WalkBridge object for the same bridge
 * across calls: its index is cached per object.
 */
export interface WalkWorld {
  bridge(host: string, name: string): WalkBridge | undefined;
  /** Every bridge of a host (to find a patch peer's bridge and a tunnel's receiving port). */
  bridges(host: string): readonly WalkBridge[];
  /** The host that owns an underlay address (a tunnel's remote_ip), if known. */
  hostOwningIp(ip: string): string | undefined;
}

/** An action with its port names resolved against the bridge (undefined port = not on the bridge). */
export type IndexedAction = OfAction & { resolvedPort?: number | undefined; inner?: IndexedAction[] };

export interface IndexedRule {
  flow: OfFlow;
  priority: number;
  /** Position in the dump: breaks priority ties in dump order. */
  order: number;
  slots: number[];
  masks: bigint[];
  values: bigint[];
  /** Why this rule cannot be evaluated (an unmodelled field, a port name not on the bridge). */
  unevaluable: string | undefined;
  /** True when the actions are conjunction(...) clauses. */
  conjunction: boolean;
  actions: IndexedAction[];
}

/**
 * One table's rules. When many rules match one slot exactly under one mask (in_port in table 0,
 * dl_vlan+dl_dst in a learned table...), they are bucketed by that value: a lookup scans its
 * bucket and the remaining rules together, in priority order, instead of every rule.
 */
export interface TableIndex {
  /** Every rule, highest priority first, then dump order. */
  rules: IndexedRule[];
  /** The bucketing slot and mask, or -1 when the table is scanned whole. */
  slot: number;
  mask: bigint;
  buckets: Map<bigint, IndexedRule[]>;
  /** Rules without that exact (slot, mask), in priority order. */
  rest: IndexedRule[];
}

export interface BridgeIndex {
  bridge: WalkBridge;
  tables: Map<number, TableIndex>;
  portsByNumber: Map<number, WalkPort>;
  portsByName: Map<string, WalkPort>;
  /** (vlan << 48 | mac) → ofport. */
  fdb: Map<bigint, number>;
  /** Ports in ofport order, for flooding. */
  portsInOrder: WalkPort[];
}

const cache = new WeakMap<WalkBridge, BridgeIndex>();

export function fdbKey(vlan: number, mac: bigint): bigint {
  return (BigInt(vlan) << 48n) | mac;
}

function indexActions(actions: readonly OfAction[], portsByName: Map<string, WalkPort>): IndexedAction[] {
  return actions.map((a): IndexedAction => {
    if ((a.type === 'output' || a.type === 'resubmit') && a.portName !== undefined) {
      return { ...a, resolvedPort: portsByName.get(a.portName)?.ofport };
    }
    if (a.type === 'clone') return { ...a, inner: indexActions(a.actions, portsByName) };
    return a;
  });
}

/** The index of a bridge (built on first use, then cached for that WalkBridge object). */
export function indexBridge(bridge: WalkBridge): BridgeIndex {
  const cached = cache.get(bridge);
  if (cached !== undefined) return cached;
  const portsByNumber = new Map<number, WalkPort>();
  const portsByName = new Map<string, WalkPort>();
  for (const port of bridge.ports) {
    portsByNumber.set(port.ofport, port);
    portsByName.set(port.name, port);
  }
  const byTable = new Map<number, IndexedRule[]>();
  let order = 0;
  for (const flow of bridge.flows) {
    const slots: number[] = [];
    const masks: bigint[] = [];
    const values: bigint[] = [];
    let unevaluable: string | undefined;
    for (const m of flow.match) {
      let value = m.value;
      if (m.field === undefined) {
        unevaluable ??= `match field '${m.name}' is not modelled`;
        continue;
      }
      if (m.portName !== undefined) {
        const port = portsByName.get(m.portName);
        if (port === undefined) {
          unevaluable ??= `in_port "${m.portName}" is not a port of ${bridge.name}`;
          continue;
        }
        value = BigInt(port.ofport);
      }
      const at = slots.indexOf(m.field);
      if (at >= 0) {
        masks[at] = (masks[at] ?? 0n) | m.mask;
        values[at] = (values[at] ?? 0n) | value;
      } else {
        slots.push(m.field);
        masks.push(m.mask);
        values.push(value & m.mask);
      }
    }
    const rules = byTable.get(flow.table) ?? [];
    rules.push({
      flow,
      priority: flow.priority,
      order: order++,
      slots,
      masks,
      values,
      unevaluable,
      conjunction: flow.actions.some((a) => a.type === 'conjunction'),
      actions: indexActions(flow.actions, portsByName),
    });
    byTable.set(flow.table, rules);
  }
  const tables = new Map<number, TableIndex>();
  for (const [table, rules] of byTable) tables.set(table, indexTable(rules));
  const fdb = new Map<bigint, number>();
  for (const entry of bridge.fdb) {
    const mac = parseMac(entry.mac);
    if (mac !== undefined) fdb.set(fdbKey(entry.vlan, mac), entry.ofport);
  }
  const portsInOrder = [...bridge.ports].sort((a, b) => a.ofport - b.ofport);
  const index: BridgeIndex = { bridge, tables, portsByNumber, portsByName, fdb, portsInOrder };
  cache.set(bridge, index);
  return index;
}

/** Below this many rules a table is scanned whole. */
const BUCKET_THRESHOLD = 16;

function indexTable(rules: IndexedRule[]): TableIndex {
  // Highest priority first; equal priorities keep dump order (Array#sort is stable).
  rules.sort((a, b) => b.priority - a.priority);
  const none: TableIndex = { rules, slot: -1, mask: 0n, buckets: new Map(), rest: rules };
  if (rules.length < BUCKET_THRESHOLD) return none;
  // Bucket by the (slot, mask) that takes the most rules out of any one scan: rules carrying it,
  // less its largest bucket (in_port in table 0; dl_type alone would put all IP rules in one bucket).
  const counts = new Map<string, { slot: number; mask: bigint; values: Map<bigint, number> }>();
  for (const rule of rules) {
    for (let i = 0; i < rule.slots.length; i++) {
      const key = `${rule.slots[i]}/${rule.masks[i]}`;
      let c = counts.get(key);
      if (c === undefined) counts.set(key, (c = { slot: rule.slots[i] as number, mask: rule.masks[i] as bigint, values: new Map() }));
      const v = rule.values[i] as bigint;
      c.values.set(v, (c.values.get(v) ?? 0) + 1);
    }
  }
  let best: { slot: number; mask: bigint; gain: number } | undefined;
  for (const c of counts.values()) {
    let n = 0;
    let largest = 0;
    for (const k of c.values.values()) {
      n += k;
      largest = Math.max(largest, k);
    }
    const gain = n - largest;
    if (best === undefined || gain > best.gain) best = { slot: c.slot, mask: c.mask, gain };
  }
  if (best === undefined || best.gain < BUCKET_THRESHOLD / 2) return none;
  const buckets = new Map<bigint, IndexedRule[]>();
  const rest: IndexedRule[] = [];
  for (const rule of rules) {
    const i = rule.slots.indexOf(best.slot);
    if (i < 0 || rule.masks[i] !== best.mask) {
      rest.push(rule);
      continue;
    }
    const value = rule.values[i] as bigint;
    const bucket = buckets.get(value);
    if (bucket === undefined) buckets.set(value, [rule]);
    else bucket.push(rule);
  }
  return { rules, slot: best.slot, mask: best.mask, buckets, rest };
}

const EMPTY: IndexedRule[] = [];

/**
 * The rule a frame hits in a table: the highest-priority rule whose masked fields all agree.
 * Conjunctive matches (ovs-fields(7) conj_id): when every clause 1..n of conjunction(id, k/n)
 * is matched by some rule at one priority above any plain hit, conj_id is set to id and the table
 * is looked up again (conjunction rules aside); `conjunction` then tells which.
 */
export type Lookup =
  | { kind: 'hit'; rule: IndexedRule; conjunction?: { id: number; priority: number } }
  | { kind: 'miss' }
  | { kind: 'undecidable'; rule: IndexedRule; reason: 'unevaluable' | 'tie' | 'conjunction'; detail: string };

type Scan = { kind: 'hit'; rule: IndexedRule } | { kind: 'miss' } | Extract<Lookup, { kind: 'undecidable' }>;

function scan(table: TableIndex, fields: readonly bigint[], conjunctions: IndexedRule[] | undefined): Scan {
  const a = table.slot < 0 ? EMPTY : (table.buckets.get((fields[table.slot] as bigint) & table.mask) ?? EMPTY);
  const b = table.rest;
  let ia = 0;
  let ib = 0;
  let hit: IndexedRule | undefined;
  // Merge the bucket and the rest by (priority desc, dump order asc).
  while (ia < a.length || ib < b.length) {
    const ra = a[ia];
    const rb = b[ib];
    let rule: IndexedRule;
    if (rb === undefined || (ra !== undefined && (ra.priority > rb.priority || (ra.priority === rb.priority && ra.order < rb.order)))) {
      rule = ra as IndexedRule;
      ia++;
    } else {
      rule = rb;
      ib++;
    }
    if (hit !== undefined && rule.priority < hit.priority) break;
    const slots = rule.slots;
    let ok = true;
    for (let i = 0; i < slots.length; i++) {
      if (((fields[slots[i] as number] as bigint) & (rule.masks[i] as bigint)) !== rule.values[i]) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    if (rule.unevaluable !== undefined) return { kind: 'undecidable', rule, reason: 'unevaluable', detail: rule.unevaluable };
    if (rule.conjunction) {
      conjunctions?.push(rule);
      continue;
    }
    if (hit === undefined) {
      hit = rule;
      continue;
    }
    // Two rules of one priority both match: OpenFlow leaves the choice undefined.
    if (rule.flow.actionsText !== hit.flow.actionsText) {
      const [first, second] = hit.order < rule.order ? [hit, rule] : [rule, hit];
      return { kind: 'undecidable', rule, reason: 'tie', detail: `rules at line ${first.flow.line} and ${second.flow.line} both match at priority ${rule.priority}` };
    }
  }
  return hit === undefined ? { kind: 'miss' } : { kind: 'hit', rule: hit };
}

/** Conjunction ids whose every clause is matched by `rules` (all of one priority). */
function satisfiedConjunctions(rules: readonly IndexedRule[]): number[] {
  const clauses = new Map<number, { n: number; seen: Set<number> }>();
  for (const rule of rules) {
    for (const action of rule.flow.actions) {
      if (action.type !== 'conjunction') continue;
      const c = clauses.get(action.id) ?? { n: action.clauses, seen: new Set<number>() };
      c.seen.add(action.clause);
      clauses.set(action.id, c);
    }
  }
  return [...clauses].filter(([, c]) => c.seen.size === c.n).map(([id]) => id);
}

export function lookup(table: TableIndex | undefined, fields: bigint[]): Lookup {
  if (table === undefined) return { kind: 'miss' };
  const conjunctions: IndexedRule[] = [];
  const first = scan(table, fields, conjunctions);
  if (first.kind === 'undecidable' || conjunctions.length === 0) return first;
  const floor = first.kind === 'hit' ? first.rule.priority : -1;
  const priorities = [...new Set(conjunctions.map((r) => r.priority))].filter((p) => p >= floor).sort((x, y) => y - x);
  for (const priority of priorities) {
    const ids = satisfiedConjunctions(conjunctions.filter((r) => r.priority === priority));
    if (ids.length === 0) continue;
    const at = conjunctions.find((r) => r.priority === priority) as IndexedRule;
    if (ids.length > 1 || priority === floor) {
      return { kind: 'undecidable', rule: at, reason: 'conjunction', detail: `conjunctions ${ids.join(', ')} at priority ${priority}${priority === floor ? ' tie with a plain rule' : ''}` };
    }
    const id = ids[0] as number;
    const saved = fields[FIELD.conj_id] as bigint;
    fields[FIELD.conj_id] = BigInt(id);
    const second = scan(table, fields, undefined);
    fields[FIELD.conj_id] = saved;
    if (second.kind === 'hit') return { kind: 'hit', rule: second.rule, conjunction: { id, priority } };
    return second;
  }
  return first;
}
