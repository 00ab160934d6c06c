// The offline `ovs-appctl ofproto/trace`: a frame is walked through the dumped OpenFlow tables of
// a bridge, across patch ports into peer bridges and through tunnel ports to the host owning the
// tunnel's remote_ip, and the result says where it ends — output on a port, dropped (by which rule
// or for lack of one), or undecidable (what the dump cannot tell) — never a guess.
//
// Semantics follow ovs-vswitchd's ofproto/ofproto-dpif-xlate.c as of OVS 3.1:
// - Lookup: the highest-priority rule whose masked fields all match; conjunctive matches set
//   conj_id and look the table up again (bridge-index.ts lookup). Two matching rules of one
//   priority with different actions are undecidable (OpenFlow leaves the choice undefined; OVS's
//   classifier picks one that a dump cannot tell). A table with no matching rule drops (the miss
//   of OpenFlow 1.3+, and OVS's default for every table).
// - Actions run in order on one frame; resubmit/goto_table run the target table's actions in
//   place and return; output sends a copy (later modifications do not affect it). Output to the
//   frame's in_port is skipped (only IN_PORT sends back). Depth is bounded by 64 nested
//   resubmits and 4096 in all (OVS's MAX_DEPTH and MAX_RESUBMITS): beyond, the frame drops.
// - A patch port continues in the peer bridge at table 0 with in_port = the peer, registers,
//   metadata, tunnel fields and connection tracking state cleared; the frame as it was returns
//   to the remaining actions of the sending bridge.
// - A tunnel port (gre/vxlan/geneve...) leaves the host: tun_id is the frame's (key=flow) or the
//   port's fixed key (0 when unset); the receiving host is hostOwningIp(remote_ip) and the
//   receiving port is there a tunnel port of the same type whose remote_ip is the sender's
//   local_ip (or an address of the sender); it starts over at table 0 with in_port = that port.
// - NORMAL: input VLAN from the in port's tag/trunks/vlan_mode (tagged frames on an access port
//   are dropped), reserved multicast (01:80:c2:00:00:0x) is dropped, other multicast floods,
//   unicast goes to the FDB's port for (VLAN, dl_dst) — dropped when that is the in port — or
//   floods when unknown. Flooding goes to every port carrying the VLAN except the in port; each
//   output is tagged or untagged for its port. The FDB is the dumped one: nothing is learned.
// - learn() adds nothing: the flows it learned are those of the dump. ct(table=N) recirculates
//   with a connection state the dump does not hold: undecidable unless WalkOptions.ctState says
//   which state to assume. controller, group, multipath, bundle, check_pkt_larger, several
//   conjunctions satisfied at once, unknown actions and unmodelled match fields are undecidable.
import {
  indexBridge,
  lookup,
  TUNNEL_TYPES,
  fdbKey,
  type BridgeIndex,
  type IndexedAction,
  type IndexedRule,
  type WalkBridge,
  type WalkPort,
  type WalkWorld,
} from './bridge-index.js';
import { FIELD, OFPP, REGISTER_COUNT, VLAN_PRESENT, ones } from './fields.js';
import { buildFrameFields, vlanOf, type FrameSpec } from './frame.js';
import type { Subfield } from './types.js';
import { formatIpv4, parseIpv4, parseMasked } from './values.js';

/** OVS's MAX_DEPTH: nested resubmits (and patch ports) one translation may go through. */
export const MAX_DEPTH = 64;
/** OVS's MAX_RESUBMITS: resubmits in one translation. */
export const MAX_RESUBMITS = 4096;
/** Host-to-host tunnel hops one walk may take before it is called a loop. */
export const MAX_TUNNEL_HOPS = 16;

export interface WalkStart {
  host: string;
  bridge: string;
  /** OpenFlow port number, LOCAL as 65534, or a port name of the bridge. */
  inPort: number | string;
  frame: FrameSpec | readonly bigint[];
}

export interface WalkOptions {
  /** Record trace steps (default true). Dispositions are always produced. */
  steps?: boolean;
  /** Follow tunnel ports to the receiving host (default true); false ends at the tunnel port. */
  crossTunnels?: boolean;
  /** The ct_state to assume after ct(table=N) recirculation (e.g. 'trk|est'); absent = undecidable. */
  ctState?: string;
}

export interface RuleRef {
  table: number;
  priority: number;
  cookie: bigint;
  match: string;
  actions: string;
  /** Line in the dump the rule came from. */
  line: number;
}

interface StepBase {
  /** Nesting: resubmits and patch ports add one. */
  depth: number;
  host: string;
  bridge: string;
  /**
   * Index in `steps` of the `bridge` step of the visit this step belongs to (its own index for a
   * bridge step). Steps of a bridge resume after a patch or tunnel branch returns, at a depth a
   * nested visit may share: this says whose they are.
   */
  visit: number;
}

/** The tunnel a frame arrived through (the receiving side's tun_src/tun_dst). */
export interface TunnelEntry {
  /** tun_src: the sending host's address. */
  src: string;
  /** tun_dst: this host's address the sender sent to (the sender's remote_ip). */
  dst: string;
}

/** What happened at one step of a trace (without where: see TraceStep). */
export type TraceStepBody =
    | {
        kind: 'bridge';
        inPort: number;
        inPortName: string | undefined;
        via: 'start' | 'patch' | 'tunnel';
        /** Index in `steps` of the bridge step this one was entered from (patch or tunnel); -1 for the start. */
        parent: number;
        /** Outer VID of the frame as it enters (before any implicit tagging by NORMAL); undefined when untagged. */
        vlan: number | undefined;
        /** tun_id as the frame enters: the key a tunnel delivered it with, 0n when none (a patch clears it). */
        tunId: bigint;
        /** tun_src/tun_dst as the frame enters (a tunnel entry, or a start frame given them). */
        tunnel?: TunnelEntry;
      }
    | ({ kind: 'rule' } & RuleRef)
    | { kind: 'no-match'; table: number }
    | { kind: 'resubmit'; table: number; inPort: number }
    /** `vlan`/`tunId`: the frame as it leaves (for a tunnel port, tunId is the key sent). */
    | { kind: 'output'; port: number; portName: string | undefined; vlan: number | undefined; tunId: bigint }
    | { kind: 'tunnel'; port: number; portName: string; remoteIp: string; tunId: bigint; vlan: number | undefined; toHost: string | undefined }
    | { kind: 'note'; text: string };

export type TraceStep = StepBase & TraceStepBody;

export type DropReason =
  | 'rule' // an explicit drop, or a rule whose actions output nothing
  | 'no-match'
  | 'normal-vlan' // NORMAL: VLAN not allowed on the input port
  | 'normal-in-port' // NORMAL: the FDB points back at the input port
  | 'normal-reserved-multicast'
  | 'normal-no-input-port'
  | 'in-port' // output to the input port skipped
  | 'no-such-port'
  | 'ttl-expired'
  | 'recursion-too-deep'
  | 'too-many-resubmits'
  | 'tunnel-key-mismatch'
  | 'no-output'; // actions that end without output (e.g. only learn)

export type UndecidableReason =
  | 'ct' // recirculation after ct(table=N) with no ct state to assume
  | 'controller'
  | 'unknown-action'
  | 'stateful-action' // group, multipath, bundle, check_pkt_larger, write_actions...
  | 'unevaluable-match'
  | 'tie'
  | 'conjunction'
  | 'missing-bridge'
  | 'missing-host'
  | 'missing-tunnel-port'
  | 'tunnel-loop'
  | 'bad-start';

export type Disposition =
  | {
      kind: 'output';
      host: string;
      bridge: string;
      port: number;
      portName: string | undefined;
      portType: string | undefined;
      /** Outer VID as sent, undefined when untagged. */
      vlan: number | undefined;
      tunId: bigint;
      /** Set when the port is a tunnel and the walk did not cross it. */
      tunnel?: { remoteIp: string; key: bigint };
      /** The frame as sent (field slots, see FIELD; describeFrame prints it). */
      fields: readonly bigint[];
    }
  | { kind: 'drop'; host: string; bridge: string; reason: DropReason; table: number | undefined; rule: RuleRef | undefined; detail: string }
  | { kind: 'undecidable'; host: string; bridge: string; reason: UndecidableReason; table: number | undefined; rule: RuleRef | undefined; detail: string };

export interface WalkResult {
  steps: TraceStep[];
  dispositions: Disposition[];
  /** The frame at the end of the starting bridge's actions. */
  finalFields: readonly bigint[];
}

interface DropPoint {
  reason: DropReason;
  table: number | undefined;
  rule: RuleRef | undefined;
  detail: string;
}

interface Ctx {
  world: WalkWorld;
  record: boolean;
  crossTunnels: boolean;
  ctState: bigint | undefined;
  steps: TraceStep[];
  dispositions: Disposition[];
  resubmits: number;
  tunnelHops: number;
  /** Set by undecidable outcomes that make the rest of the walk unknowable, and by exit. */
  halted: boolean;
  lastDrop: DropPoint | undefined;
}

/** Where one bridge's translation runs. */
interface Scope {
  host: string;
  index: BridgeIndex;
  /** Table of the rule being executed (resubmit without a table stays here). */
  table: number;
  depth: number;
  /** Index in ctx.steps of this visit's bridge step (-1 when steps are not recorded). */
  visit: number;
  /** exit stops this bridge's pipeline. */
  exited: boolean;
}

function ruleRef(rule: IndexedRule): RuleRef {
  const f = rule.flow;
  return { table: f.table, priority: f.priority, cookie: f.cookie, match: f.matchText, actions: f.actionsText, line: f.line };
}

function step(ctx: Ctx, scope: Scope, s: TraceStepBody, depth = scope.depth): void {
  if (!ctx.record) return;
  ctx.steps.push({ depth, host: scope.host, bridge: scope.index.bridge.name, visit: scope.visit, ...s });
}

function note(ctx: Ctx, scope: Scope, text: string): void {
  step(ctx, scope, { kind: 'note', text }, scope.depth + 1);
}

function undecidable(ctx: Ctx, scope: Scope, reason: UndecidableReason, detail: string, rule?: IndexedRule, halt = true): void {
  ctx.dispositions.push({
    kind: 'undecidable',
    host: scope.host,
    bridge: scope.index.bridge.name,
    reason,
    table: rule?.flow.table ?? scope.table,
    rule: rule === undefined ? undefined : ruleRef(rule),
    detail,
  });
  if (halt) ctx.halted = true;
}

function dropPoint(ctx: Ctx, reason: DropReason, detail: string, table: number | undefined, rule: IndexedRule | undefined): void {
  ctx.lastDrop = { reason, table, rule: rule === undefined ? undefined : ruleRef(rule), detail };
}

/** Walks a frame from a bridge port; see the file header for the semantics. */
export function walk(world: WalkWorld, start: WalkStart, options: WalkOptions = {}): WalkResult {
  const ctx: Ctx = {
    world,
    record: options.steps !== false,
    crossTunnels: options.crossTunnels !== false,
    ctState: options.ctState === undefined ? undefined : parseMasked(options.ctState, 'ct_state', 32)?.value,
    steps: [],
    dispositions: [],
    resubmits: 0,
    tunnelHops: 0,
    halted: false,
    lastDrop: undefined,
  };
  const fields = Array.isArray(start.frame) ? [...(start.frame as readonly bigint[])] : buildFrameFields(start.frame as FrameSpec);
  const bridge = world.bridge(start.host, start.bridge);
  if (bridge === undefined) {
    ctx.dispositions.push({ kind: 'undecidable', host: start.host, bridge: start.bridge, reason: 'missing-bridge', table: undefined, rule: undefined, detail: `no bridge ${start.bridge} on host ${start.host}` });
    return { steps: ctx.steps, dispositions: ctx.dispositions, finalFields: fields };
  }
  const index = indexBridge(bridge);
  let inPort: number | undefined;
  if (typeof start.inPort === 'number') inPort = start.inPort;
  else inPort = index.portsByName.get(start.inPort)?.ofport ?? (start.inPort === 'LOCAL' ? OFPP.LOCAL : undefined);
  if (inPort === undefined) {
    ctx.dispositions.push({ kind: 'undecidable', host: start.host, bridge: start.bridge, reason: 'bad-start', table: undefined, rule: undefined, detail: `no port ${String(start.inPort)} on ${start.bridge}` });
    return { steps: ctx.steps, dispositions: ctx.dispositions, finalFields: fields };
  }
  enterBridge(ctx, start.host, index, inPort, fields, 0, 'start', -1);
  return { steps: ctx.steps, dispositions: ctx.dispositions, finalFields: fields };
}

/** The tunnel fields of a frame, when it has any. */
function tunnelEntry(fields: readonly bigint[]): TunnelEntry | undefined {
  const src = fields[FIELD.tun_src] ?? 0n;
  const dst = fields[FIELD.tun_dst] ?? 0n;
  return src === 0n && dst === 0n ? undefined : { src: formatIpv4(src), dst: formatIpv4(dst) };
}

/**
 * Runs a bridge's pipeline from table 0; adds a drop disposition when nothing came out of it.
 * `parent`: index in ctx.steps of the sending visit's bridge step (-1 for the start).
 */
function enterBridge(ctx: Ctx, host: string, index: BridgeIndex, inPort: number, fields: bigint[], depth: number, via: 'start' | 'patch' | 'tunnel', parent: number): void {
  fields[FIELD.in_port] = BigInt(inPort);
  const scope: Scope = { host, index, table: 0, depth, visit: ctx.record ? ctx.steps.length : -1, exited: false };
  const tunnel = tunnelEntry(fields);
  step(ctx, scope, {
    kind: 'bridge',
    inPort,
    inPortName: index.portsByNumber.get(inPort)?.name,
    via,
    parent,
    vlan: vlanOf(fields),
    tunId: fields[FIELD.tun_id] ?? 0n,
    ...(tunnel === undefined ? {} : { tunnel }),
  });
  const before = ctx.dispositions.length;
  ctx.lastDrop = undefined;
  runTable(ctx, scope, fields, 0, depth);
  if (ctx.dispositions.length === before && !ctx.halted) {
    const d = ctx.lastDrop ?? { reason: 'no-output' as const, table: undefined, rule: undefined, detail: 'the actions sent the frame nowhere' };
    ctx.dispositions.push({ kind: 'drop', host, bridge: index.bridge.name, ...d });
  }
}

function runTable(ctx: Ctx, scope: Scope, fields: bigint[], table: number, depth: number): void {
  // OVS 3.1 still looks up the 65th nested resubmit and fails at the 66th ("over max translation
  // depth 64"): its counter starts below the first table (checked against ofproto/trace).
  if (depth > MAX_DEPTH + 1) {
    dropPoint(ctx, 'recursion-too-deep', `over ${MAX_DEPTH} nested resubmits`, table, undefined);
    note(ctx, scope, `recursion too deep (${MAX_DEPTH}): packet is dropped`);
    ctx.halted = true;
    ctx.dispositions.push({ kind: 'drop', host: scope.host, bridge: scope.index.bridge.name, ...(ctx.lastDrop as DropPoint) });
    return;
  }
  const result = lookup(scope.index.tables.get(table), fields);
  if (result.kind === 'miss') {
    step(ctx, scope, { kind: 'no-match', table }, depth);
    dropPoint(ctx, 'no-match', `no rule in table ${table} matches`, table, undefined);
    return;
  }
  if (result.kind === 'undecidable') {
    step(ctx, scope, { kind: 'rule', ...ruleRef(result.rule) }, depth);
    const reason = result.reason === 'unevaluable' ? 'unevaluable-match' : result.reason;
    undecidable(ctx, { ...scope, table }, reason, result.detail, result.rule);
    return;
  }
  const rule = result.rule;
  if (result.conjunction !== undefined) note(ctx, scope, `conjunction(${result.conjunction.id}) matched at priority ${result.conjunction.priority}: conj_id=${result.conjunction.id}`);
  step(ctx, scope, { kind: 'rule', ...ruleRef(rule) }, depth);
  const saved = scope.table;
  scope.table = table;
  const outputsBefore = ctx.dispositions.length;
  runActions(ctx, scope, fields, rule.actions, rule, depth);
  scope.table = saved;
  if (rule.actions.length === 0 || (rule.actions.length === 1 && rule.actions[0]?.type === 'drop')) {
    dropPoint(ctx, 'rule', `dropped by rule at line ${rule.flow.line}`, table, rule);
  } else if (ctx.dispositions.length === outputsBefore && ctx.lastDrop === undefined) {
    dropPoint(ctx, 'no-output', `rule at line ${rule.flow.line} outputs nothing`, table, rule);
  }
}

function readSubfield(fields: readonly bigint[], sub: Subfield): bigint {
  return ((fields[sub.field] ?? 0n) >> BigInt(sub.ofs)) & ones(sub.bits);
}

function writeSubfield(fields: bigint[], sub: Subfield, value: bigint): void {
  const mask = ones(sub.bits) << BigInt(sub.ofs);
  fields[sub.field] = ((fields[sub.field] ?? 0n) & ~mask) | ((value << BigInt(sub.ofs)) & mask);
}

function runActions(ctx: Ctx, scope: Scope, fields: bigint[], actions: readonly IndexedAction[], rule: IndexedRule, depth: number): void {
  for (const action of actions) {
    if (ctx.halted || scope.exited) return;
    switch (action.type) {
      case 'output': {
        const port = action.portName !== undefined ? action.resolvedPort : action.port;
        if (port === undefined) {
          note(ctx, scope, `output to ${action.portName ?? '?'}: no such port`);
          dropPoint(ctx, 'no-such-port', `no port ${action.portName ?? '?'} on ${scope.index.bridge.name}`, scope.table, rule);
          break;
        }
        output(ctx, scope, fields, port, rule, depth);
        break;
      }
      case 'output-field':
        output(ctx, scope, fields, Number(readSubfield(fields, action.src)), rule, depth);
        break;
      case 'controller':
        undecidable(ctx, scope, 'controller', `${action.text}: the controller decides`, rule, false);
        break;
      case 'drop':
        break;
      case 'resubmit': {
        if (++ctx.resubmits > MAX_RESUBMITS) {
          dropPoint(ctx, 'too-many-resubmits', `over ${MAX_RESUBMITS} resubmits`, scope.table, rule);
          ctx.dispositions.push({ kind: 'drop', host: scope.host, bridge: scope.index.bridge.name, ...(ctx.lastDrop as DropPoint) });
          ctx.halted = true;
          return;
        }
        if (action.ct) {
          undecidable(ctx, scope, 'ct', `${action.text}: needs the connection's original tuple`, rule);
          return;
        }
        const savedInPort = fields[FIELD.in_port] as bigint;
        const port = action.portName !== undefined ? action.resolvedPort : action.port;
        if (action.portName !== undefined && port === undefined) {
          note(ctx, scope, `resubmit to unknown port ${action.portName}`);
          break;
        }
        if (port !== undefined) fields[FIELD.in_port] = BigInt(port);
        const table = action.table ?? scope.table;
        step(ctx, scope, { kind: 'resubmit', table, inPort: Number(fields[FIELD.in_port]) }, depth + 1);
        runTable(ctx, scope, fields, table, depth + 1);
        fields[FIELD.in_port] = savedInPort;
        break;
      }
      case 'goto-table':
        runTable(ctx, scope, fields, action.table, depth + 1);
        break;
      case 'set-vlan-vid': {
        const tci = Number(fields[FIELD.vlan_tci]);
        if ((tci & VLAN_PRESENT) !== 0 || action.pushIfNeeded) fields[FIELD.vlan_tci] = BigInt((tci & 0xe000) | VLAN_PRESENT | action.vid);
        break;
      }
      case 'set-vlan-pcp': {
        const tci = Number(fields[FIELD.vlan_tci]);
        if ((tci & VLAN_PRESENT) !== 0 || action.pushIfNeeded) fields[FIELD.vlan_tci] = BigInt((tci & 0x0fff) | VLAN_PRESENT | (action.pcp << 13));
        break;
      }
      case 'push-vlan': {
        // OVS pushes a tag with VID 0, PCP 0 (the old outer tag becomes the inner one).
        fields[FIELD.vlan_tci] = BigInt(VLAN_PRESENT);
        break;
      }
      case 'pop-vlan':
        fields[FIELD.vlan_tci] = 0n;
        break;
      case 'set-field': {
        if ((action.name === 'vlan_pcp' || action.name === 'dl_vlan_pcp') && (Number(fields[FIELD.vlan_tci]) & VLAN_PRESENT) === 0) {
          note(ctx, scope, `${action.text}: no VLAN header, ignored`);
          break;
        }
        const slot = action.dst.field;
        fields[slot] = ((fields[slot] ?? 0n) & ~action.mask) | (action.value & action.mask);
        break;
      }
      case 'move':
        writeSubfield(fields, action.dst, readSubfield(fields, action.src));
        break;
      case 'write-metadata':
        fields[FIELD.metadata] = ((fields[FIELD.metadata] ?? 0n) & ~action.mask) | (action.value & action.mask);
        break;
      case 'dec-ttl': {
        const dlType = Number(fields[FIELD.dl_type]);
        if (dlType !== 0x0800 && dlType !== 0x86dd) break;
        const ttl = fields[FIELD.nw_ttl] ?? 0n;
        if (ttl <= 1n) {
          note(ctx, scope, 'dec_ttl: TTL expired');
          dropPoint(ctx, 'ttl-expired', 'TTL expired at dec_ttl', scope.table, rule);
          scope.exited = true;
          return;
        }
        fields[FIELD.nw_ttl] = ttl - 1n;
        break;
      }
      case 'learn':
        note(ctx, scope, 'learn: not applied (the learned flows are those of the dump)');
        break;
      case 'note':
      case 'no-op':
        break;
      case 'ct': {
        if (action.table === undefined) {
          if (action.nat) note(ctx, scope, `${action.text}: NAT applies in the datapath; later outputs are shown before NAT`);
          break;
        }
        if (ctx.ctState === undefined) {
          undecidable(ctx, scope, 'ct', `${action.text}: recirculation needs the connection state (WalkOptions.ctState)`, rule, false);
          break;
        }
        const copy = [...fields];
        copy[FIELD.ct_state] = ctx.ctState;
        note(ctx, scope, `${action.text}: recirculating with an assumed ct_state`);
        runTable(ctx, scope, copy, action.table, depth + 1);
        break;
      }
      case 'ct-clear':
        fields[FIELD.ct_state] = 0n;
        fields[FIELD.ct_zone] = 0n;
        fields[FIELD.ct_mark] = 0n;
        fields[FIELD.ct_label] = 0n;
        break;
      case 'conjunction':
        undecidable(ctx, scope, 'conjunction', `${action.text} executed as an action`, rule);
        return;
      case 'clone':
        runActions(ctx, scope, [...fields], action.inner ?? [], rule, depth + 1);
        break;
      case 'exit':
        scope.exited = true;
        return;
      case 'stateful':
        undecidable(ctx, scope, 'stateful-action', `${action.text}: depends on state a dump does not hold`, rule);
        return;
      case 'unknown':
        undecidable(ctx, scope, 'unknown-action', `${action.text}: action not understood`, rule);
        return;
      default: {
        const never: never = action;
        return never;
      }
    }
  }
}

function output(ctx: Ctx, scope: Scope, fields: bigint[], port: number, rule: IndexedRule, depth: number): void {
  const inPort = Number(fields[FIELD.in_port]);
  switch (port) {
    case OFPP.NORMAL:
      normal(ctx, scope, fields, rule, depth);
      return;
    case OFPP.FLOOD:
    case OFPP.ALL:
      for (const p of scope.index.portsInOrder) {
        if (p.ofport === inPort || (port === OFPP.FLOOD && p.noFlood === true)) continue;
        sendTo(ctx, scope, fields, p.ofport, rule, depth);
      }
      return;
    case OFPP.IN_PORT:
      sendTo(ctx, scope, fields, inPort, rule, depth);
      return;
    case OFPP.CONTROLLER:
      undecidable(ctx, scope, 'controller', 'output to the controller', rule, false);
      return;
    case OFPP.NONE:
    case OFPP.TABLE:
      note(ctx, scope, `output to reserved port ${port}: nothing sent`);
      return;
    default:
      if (port === inPort) {
        note(ctx, scope, `skipping output to input port ${port}`);
        dropPoint(ctx, 'in-port', `output to the input port ${port} is skipped`, scope.table, rule);
        return;
      }
      sendTo(ctx, scope, fields, port, rule, depth);
  }
}

/** Sends a copy of the frame out of one port: a leaf output, a patch crossing or a tunnel. */
function sendTo(ctx: Ctx, scope: Scope, fields: readonly bigint[], port: number, rule: IndexedRule, depth: number): void {
  const p = scope.index.portsByNumber.get(port);
  if (p === undefined) {
    note(ctx, scope, `output to nonexistent port ${port}`);
    dropPoint(ctx, 'no-such-port', `no port ${port} on ${scope.index.bridge.name}`, scope.table, rule);
    return;
  }
  const isTunnel = TUNNEL_TYPES.has(p.type);
  const tunId = isTunnel ? (tunnelKey(p, fields, 'out') as bigint) : (fields[FIELD.tun_id] ?? 0n);
  step(ctx, scope, { kind: 'output', port, portName: p.name, vlan: vlanOf(fields), tunId }, depth + 1);
  if (p.type === 'patch') {
    patch(ctx, scope, fields, p, rule, depth);
    return;
  }
  if (isTunnel) {
    tunnel(ctx, scope, fields, p, rule, depth);
    return;
  }
  ctx.dispositions.push({
    kind: 'output',
    host: scope.host,
    bridge: scope.index.bridge.name,
    port,
    portName: p.name,
    portType: p.type,
    vlan: vlanOf(fields),
    tunId,
    fields: [...fields],
  });
}

/** Fields a patch port or a tunnel clears (ofproto-dpif-xlate.c patch_port_output). */
function clearPipelineState(f: bigint[]): void {
  f[FIELD.metadata] = 0n;
  for (let i = 0; i < REGISTER_COUNT; i++) f[FIELD.reg0 + i] = 0n;
  f[FIELD.tun_id] = 0n;
  f[FIELD.tun_src] = 0n;
  f[FIELD.tun_dst] = 0n;
  f[FIELD.tun_ipv6_src] = 0n;
  f[FIELD.tun_ipv6_dst] = 0n;
  f[FIELD.tun_flags] = 0n;
  f[FIELD.ct_state] = 0n;
  f[FIELD.ct_zone] = 0n;
  f[FIELD.ct_mark] = 0n;
  f[FIELD.ct_label] = 0n;
  f[FIELD.actset_output] = 0n;
}

function patch(ctx: Ctx, scope: Scope, fields: readonly bigint[], port: WalkPort, rule: IndexedRule, depth: number): void {
  const peerName = port.peer;
  let peer: { bridge: WalkBridge; port: WalkPort } | undefined;
  if (peerName !== undefined) {
    for (const bridge of ctx.world.bridges(scope.host)) {
      const p = indexBridge(bridge).portsByName.get(peerName);
      if (p !== undefined && p.type === 'patch') {
        peer = { bridge, port: p };
        break;
      }
    }
  }
  if (peer === undefined) {
    undecidable(ctx, scope, 'missing-bridge', `patch port ${port.name}: peer ${peerName ?? '(unset)'} not found on host ${scope.host}`, rule, false);
    return;
  }
  if (depth + 1 > MAX_DEPTH) {
    dropPoint(ctx, 'recursion-too-deep', `over ${MAX_DEPTH} nested bridges`, scope.table, rule);
    return;
  }
  const copy = [...fields];
  clearPipelineState(copy);
  const lastDrop = ctx.lastDrop;
  enterBridge(ctx, scope.host, indexBridge(peer.bridge), peer.port.ofport, copy, depth + 1, 'patch', scope.visit);
  ctx.lastDrop = lastDrop;
}

/** The tunnel key a port sends: the frame's tun_id with key=flow, else the fixed key (0 when unset). */
function tunnelKey(port: WalkPort, fields: readonly bigint[], direction: 'out' | 'in'): bigint | 'flow' {
  const key = (direction === 'out' ? port.outKey : port.inKey) ?? port.key;
  if (key === 'flow') return direction === 'out' ? (fields[FIELD.tun_id] ?? 0n) : 'flow';
  if (key === undefined || key === '') return 0n;
  try {
    return BigInt(key);
  } catch {
    return 0n;
  }
}

function tunnel(ctx: Ctx, scope: Scope, fields: readonly bigint[], port: WalkPort, rule: IndexedRule, depth: number): void {
  const key = tunnelKey(port, fields, 'out') as bigint;
  const remoteIp = port.remoteIp === 'flow' ? formatIpv4(fields[FIELD.tun_dst] ?? 0n) : port.remoteIp;
  const bridgeName = scope.index.bridge.name;
  if (remoteIp === undefined) {
    undecidable(ctx, scope, 'missing-host', `tunnel port ${port.name} has no remote_ip`, rule, false);
    return;
  }
  const toHost = ctx.crossTunnels ? ctx.world.hostOwningIp(remoteIp) : undefined;
  step(ctx, scope, { kind: 'tunnel', port: port.ofport, portName: port.name, remoteIp, tunId: key, vlan: vlanOf(fields), toHost }, depth + 1);
  if (!ctx.crossTunnels) {
    ctx.dispositions.push({
      kind: 'output',
      host: scope.host,
      bridge: bridgeName,
      port: port.ofport,
      portName: port.name,
      portType: port.type,
      vlan: vlanOf(fields),
      tunId: key,
      tunnel: { remoteIp, key },
      fields: [...fields],
    });
    return;
  }
  if (toHost === undefined) {
    undecidable(ctx, scope, 'missing-host', `no known host owns ${remoteIp} (remote_ip of ${port.name})`, rule, false);
    return;
  }
  if (++ctx.tunnelHops > MAX_TUNNEL_HOPS) {
    undecidable(ctx, scope, 'tunnel-loop', `over ${MAX_TUNNEL_HOPS} tunnel hops`, rule);
    return;
  }
  const receiver = findReceivingPort(ctx.world, scope.host, toHost, port);
  if (receiver === undefined) {
    undecidable(ctx, scope, 'missing-tunnel-port', `host ${toHost} has no ${port.type} port with remote_ip ${port.localIp ?? `an address of ${scope.host}`}`, rule, false);
    return;
  }
  const inKey = tunnelKey(receiver.port, fields, 'in');
  if (inKey !== 'flow' && inKey !== key) {
    note(ctx, scope, `${receiver.port.name} on ${toHost} accepts key ${inKey}, frame has ${key}`);
    ctx.dispositions.push({ kind: 'drop', host: toHost, bridge: receiver.bridge.name, reason: 'tunnel-key-mismatch', table: undefined, rule: undefined, detail: `key ${key} not accepted by ${receiver.port.name}` });
    return;
  }
  const copy = [...fields];
  clearPipelineState(copy);
  copy[FIELD.tun_id] = key;
  copy[FIELD.tun_dst] = parseIpv4(remoteIp) ?? 0n;
  copy[FIELD.tun_src] = parseIpv4(receiver.port.remoteIp ?? '') ?? 0n;
  const lastDrop = ctx.lastDrop;
  enterBridge(ctx, toHost, indexBridge(receiver.bridge), receiver.port.ofport, copy, depth + 1, 'tunnel', scope.visit);
  ctx.lastDrop = lastDrop;
}

function findReceivingPort(world: WalkWorld, fromHost: string, toHost: string, sender: WalkPort): { bridge: WalkBridge; port: WalkPort } | undefined {
  let byHost: { bridge: WalkBridge; port: WalkPort } | undefined;
  for (const bridge of world.bridges(toHost)) {
    for (const port of bridge.ports) {
      if (port.type !== sender.type || port.remoteIp === undefined) continue;
      if (sender.localIp !== undefined && port.remoteIp === sender.localIp) return { bridge, port };
      if (byHost === undefined && world.hostOwningIp(port.remoteIp) === fromHost) byHost = { bridge, port };
    }
  }
  return byHost;
}

// ---------- NORMAL (ofproto-dpif-xlate.c xlate_normal) ----------

function isAccess(port: WalkPort): boolean {
  return port.vlanMode === 'access' || (port.vlanMode === undefined && port.tag !== undefined);
}

function trunksVlan(port: WalkPort, vlan: number): boolean {
  return port.trunks === undefined || port.trunks.length === 0 || port.trunks.includes(vlan);
}

/** Whether `port` carries `vlan` (OVS xbundle_includes_vlan). */
function carries(port: WalkPort, vlan: number): boolean {
  if (isAccess(port)) return port.tag === vlan;
  if (port.vlanMode === 'native-tagged' || port.vlanMode === 'native-untagged') return port.tag === vlan || trunksVlan(port, vlan);
  return trunksVlan(port, vlan);
}

/** The VLAN a frame belongs to on its input port, or a reason to drop it. */
function inputVlan(port: WalkPort, fields: readonly bigint[]): number | string {
  const vid = vlanOf(fields);
  if (isAccess(port)) {
    if (vid !== undefined && vid !== 0) return `dropping VLAN ${vid} tagged packet received on port ${port.name} configured as VLAN ${port.tag ?? 0} access port`;
    return port.tag ?? 0;
  }
  if ((port.vlanMode === 'native-tagged' || port.vlanMode === 'native-untagged') && (vid === undefined || vid === 0)) return port.tag ?? 0;
  const vlan = vid ?? 0;
  if (!trunksVlan(port, vlan)) return `dropping VLAN ${vlan} packet received on port ${port.name} not configured for trunking VLAN ${vlan}`;
  return vlan;
}

/** The frame's tag on output through `port` for `vlan` (OVS output_normal). */
function outputTci(port: WalkPort, vlan: number, tci: number): number {
  const untagged = isAccess(port) || vlan === 0 || (port.vlanMode === 'native-untagged' && port.tag === vlan);
  if (untagged) return 0;
  const pcp = (tci & VLAN_PRESENT) !== 0 ? tci & 0xe000 : 0;
  return pcp | VLAN_PRESENT | vlan;
}

const RESERVED_MULTICAST = 0x0180c2000000n; // 01:80:c2:00:00:00..0f: STP, LACP, 802.1X...
const MULTICAST_BIT = 0x010000000000n;

function normal(ctx: Ctx, scope: Scope, fields: bigint[], rule: IndexedRule, depth: number): void {
  const inPortNumber = Number(fields[FIELD.in_port]);
  const inPort = scope.index.portsByNumber.get(inPortNumber);
  if (inPort === undefined) {
    note(ctx, scope, `NORMAL: no input bundle for port ${inPortNumber}`);
    dropPoint(ctx, 'normal-no-input-port', `in_port ${inPortNumber} is not a port of ${scope.index.bridge.name}`, scope.table, rule);
    return;
  }
  const vlan = inputVlan(inPort, fields);
  if (typeof vlan === 'string') {
    note(ctx, scope, vlan);
    dropPoint(ctx, 'normal-vlan', vlan, scope.table, rule);
    return;
  }
  const dst = fields[FIELD.dl_dst] ?? 0n;
  if ((dst & ~0xfn) === RESERVED_MULTICAST) {
    note(ctx, scope, 'NORMAL: dropping packet with reserved multicast destination');
    dropPoint(ctx, 'normal-reserved-multicast', 'reserved multicast destination', scope.table, rule);
    return;
  }
  const tci = Number(fields[FIELD.vlan_tci]);
  const sendNormal = (port: WalkPort): void => {
    const copy = [...fields];
    copy[FIELD.vlan_tci] = BigInt(outputTci(port, vlan, tci));
    sendTo(ctx, scope, copy, port.ofport, rule, depth);
  };
  if ((dst & MULTICAST_BIT) === 0n) {
    const learned = scope.index.fdb.get(fdbKey(vlan, dst));
    if (learned !== undefined) {
      if (learned === inPortNumber) {
        note(ctx, scope, 'NORMAL: learned port is input port, dropping');
        dropPoint(ctx, 'normal-in-port', `FDB: ${vlan}/${dst.toString(16)} is on the input port`, scope.table, rule);
        return;
      }
      const port = scope.index.portsByNumber.get(learned);
      if (port !== undefined) {
        note(ctx, scope, `NORMAL: forwarding to learned port ${port.name}`);
        sendNormal(port);
        return;
      }
    }
    note(ctx, scope, 'NORMAL: no learned MAC for destination, flooding');
  } else {
    note(ctx, scope, 'NORMAL: multicast/broadcast destination, flooding');
  }
  let sent = 0;
  for (const port of scope.index.portsInOrder) {
    if (port.ofport === inPortNumber || port.noFlood === true || !carries(port, vlan)) continue;
    sendNormal(port);
    sent++;
  }
  if (sent === 0) dropPoint(ctx, 'no-output', `NORMAL: no other port carries VLAN ${vlan}`, scope.table, rule);
}
