// Action lists as ovs-ofctl prints them after `actions=` (ovs-actions(7)): comma-separated at the
// top level, nested lists inside parentheses (learn(...), ct(...exec(...)), clone(...)). Every
// action keeps its text; an action this model does not know is kept as `unknown`, never dropped.
import { fieldView, nxmView, ones, OFPP, RESERVED_PORTS } from './fields.js';
import type { OfAction, Subfield } from './types.js';
import { parsePortText } from './match.js';
import { parseInteger, parseMasked } from './values.js';

/** Splits on `sep` outside parentheses, brackets and double quotes. */
export function splitTopLevel(text: string, sep = ','): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === sep && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const SUBFIELD = /^([A-Za-z_][A-Za-z0-9_]*)\[(?:(\d+)(?:\.\.(\d+))?)?\]$/;

/** `NXM_NX_REG0[0..15]`, `NXM_OF_ETH_SRC[]`, `reg0[3]`; undefined if not a known field or out of range. */
export function parseSubfield(text: string): Subfield | undefined {
  const m = SUBFIELD.exec(text);
  if (m === null) return undefined;
  const view = nxmView(m[1] ?? '');
  if (view === undefined) return undefined;
  if (m[2] === undefined) return { text, field: view.field.id, ofs: view.shift, bits: view.bits };
  const start = Number(m[2]);
  const end = m[3] === undefined ? start : Number(m[3]);
  if (end < start || end >= view.bits) return undefined;
  return { text, field: view.field.id, ofs: view.shift + start, bits: end - start + 1 };
}

/** `set_field:VALUE[/MASK]->FIELD` (ovs-actions(7) "The set_field and load actions"). */
function parseSetField(text: string, arg: string): OfAction | undefined {
  const arrow = arg.lastIndexOf('->');
  if (arrow < 0) return undefined;
  const name = arg.slice(arrow + 2);
  const view = fieldView(name);
  if (view === undefined) return undefined;
  const masked = parseMasked(arg.slice(0, arrow), view.format, view.bits);
  if (masked === undefined) return undefined;
  const shift = BigInt(view.shift);
  return {
    type: 'set-field',
    text,
    name,
    dst: { text: name, field: view.field.id, ofs: view.shift, bits: view.bits },
    value: masked.value << shift,
    mask: masked.mask << shift,
  };
}

/** `load:VALUE->DST[..]`; a field source (`load:NXM_NX_TUN_ID[]->...`, learn's syntax) is a move. */
function parseLoad(text: string, arg: string): OfAction | undefined {
  const arrow = arg.lastIndexOf('->');
  if (arrow < 0) return undefined;
  const dst = parseSubfield(arg.slice(arrow + 2));
  if (dst === undefined) return undefined;
  const valueText = arg.slice(0, arrow);
  const value = parseInteger(valueText);
  if (value === undefined) {
    const src = parseSubfield(valueText);
    return src === undefined || src.bits !== dst.bits ? undefined : { type: 'move', text, src, dst };
  }
  if (value > ones(dst.bits)) return undefined;
  const ofs = BigInt(dst.ofs);
  return { type: 'set-field', text, name: dst.text, dst, value: value << ofs, mask: ones(dst.bits) << ofs };
}

/** A field written by mod_* actions, as a set-field of the whole slot. */
function setWhole(text: string, name: string, arg: string): OfAction | undefined {
  const view = fieldView(name);
  if (view === undefined) return undefined;
  const masked = parseMasked(arg, view.format, view.bits);
  if (masked === undefined || masked.mask !== ones(view.bits)) return undefined;
  const shift = BigInt(view.shift);
  return { type: 'set-field', text, name, dst: { text: name, field: view.field.id, ofs: view.shift, bits: view.bits }, value: masked.value << shift, mask: masked.mask << shift };
}

function parseOutputPort(text: string, arg: string): OfAction | undefined {
  const sub = parseSubfield(arg);
  if (sub !== undefined) return { type: 'output-field', text, src: sub };
  const port = parsePortText(arg);
  if (port === undefined) return undefined;
  if (port === OFPP.CONTROLLER) return { type: 'controller', text, maxLen: undefined };
  if (typeof port === 'string') return { type: 'output', text, port: undefined, portName: port };
  return { type: 'output', text, port, portName: undefined };
}

/** `key=value,...` inside parentheses (ct(...), output(port=..)), as a map; bare words map to ''. */
function keyValues(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of splitTopLevel(args)) {
    const eq = part.indexOf('=');
    const paren = part.indexOf('(');
    if (eq < 0 || (paren >= 0 && paren < eq)) out.set(paren >= 0 ? part.slice(0, paren) : part, paren >= 0 ? part.slice(paren + 1, -1) : '');
    else out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

function parseResubmit(text: string, port: string, table: string | undefined, ct: boolean): OfAction | undefined {
  let portNumber: number | undefined;
  let portName: string | undefined;
  if (port !== '') {
    const p = parsePortText(port);
    if (p === undefined) return undefined;
    if (typeof p === 'string') portName = p;
    else if (p !== OFPP.IN_PORT) portNumber = p;
  }
  let tableNumber: number | undefined;
  if (table !== undefined && table !== '') {
    const t = parseInteger(table);
    if (t === undefined || t > 254n) return undefined;
    tableNumber = Number(t);
  }
  return { type: 'resubmit', text, port: portNumber, portName, table: tableNumber, ct };
}

const NO_OP = new Set(['sample', 'set_queue', 'pop_queue', 'meter', 'fin_timeout', 'clear_actions', 'set_mpls_ttl', 'dec_mpls_ttl', 'debug_recirc', 'debug_slow']);
const STATEFUL = new Set(['multipath', 'bundle', 'bundle_load', 'group', 'check_pkt_larger', 'write_actions', 'enqueue', 'push_mpls', 'pop_mpls', 'set_mpls_label', 'encap', 'decap', 'nat', 'dec_nsh_ttl', 'meter_id', 'delete_field']);

/** One action's text. */
export function parseAction(text: string): OfAction {
  const action = parseKnownAction(text);
  return action ?? { type: 'unknown', text };
}

function parseKnownAction(text: string): OfAction | undefined {
  const upper = RESERVED_PORTS[text];
  if (upper !== undefined && text === text.toUpperCase()) {
    if (upper === OFPP.CONTROLLER) return { type: 'controller', text, maxLen: undefined };
    return { type: 'output', text, port: upper, portName: undefined };
  }
  if (text === 'drop') return { type: 'drop', text };
  if (text === 'strip_vlan' || text === 'pop_vlan') return { type: 'pop-vlan', text };
  if (text === 'dec_ttl') return { type: 'dec-ttl', text };
  if (text === 'ct_clear') return { type: 'ct-clear', text };
  if (text === 'exit') return { type: 'exit', text };
  if (text === 'controller') return { type: 'controller', text, maxLen: undefined };
  const colon = text.indexOf(':');
  const paren = text.indexOf('(');
  // name:arg (check_pkt_larger(1500)->X has a paren before any colon: it is name(args)).
  if (colon > 0 && (paren < 0 || colon < paren)) {
    const name = text.slice(0, colon);
    const arg = text.slice(colon + 1);
    switch (name) {
      case 'output':
        return parseOutputPort(text, arg);
      case 'CONTROLLER':
      case 'controller': {
        const n = parseInteger(arg);
        return n === undefined ? undefined : { type: 'controller', text, maxLen: Number(n) };
      }
      case 'resubmit':
        return parseResubmit(text, arg, undefined, false);
      case 'goto_table': {
        const t = parseInteger(arg);
        return t === undefined ? undefined : { type: 'goto-table', text, table: Number(t) };
      }
      case 'mod_vlan_vid': {
        const vid = parseInteger(arg);
        return vid === undefined || vid > 4095n ? undefined : { type: 'set-vlan-vid', text, vid: Number(vid), pushIfNeeded: true };
      }
      case 'mod_vlan_pcp': {
        const pcp = parseInteger(arg);
        return pcp === undefined || pcp > 7n ? undefined : { type: 'set-vlan-pcp', text, pcp: Number(pcp), pushIfNeeded: true };
      }
      case 'push_vlan': {
        const ethertype = parseInteger(arg);
        return ethertype === undefined ? undefined : { type: 'push-vlan', text, ethertype: Number(ethertype) };
      }
      case 'set_field':
        return parseSetField(text, arg);
      case 'load':
        return parseLoad(text, arg);
      case 'move': {
        const arrow = arg.indexOf('->');
        const src = parseSubfield(arg.slice(0, arrow));
        const dst = parseSubfield(arg.slice(arrow + 2));
        return arrow < 0 || src === undefined || dst === undefined || src.bits !== dst.bits ? undefined : { type: 'move', text, src, dst };
      }
      case 'set_tunnel':
      case 'set_tunnel64':
        return setWhole(text, 'tun_id', arg);
      case 'mod_dl_src':
        return setWhole(text, 'dl_src', arg);
      case 'mod_dl_dst':
        return setWhole(text, 'dl_dst', arg);
      case 'mod_nw_src':
        return setWhole(text, 'nw_src', arg);
      case 'mod_nw_dst':
        return setWhole(text, 'nw_dst', arg);
      case 'mod_nw_tos':
        return setWhole(text, 'nw_tos', arg);
      case 'mod_nw_ecn':
        return setWhole(text, 'nw_ecn', arg);
      case 'mod_nw_ttl':
        return setWhole(text, 'nw_ttl', arg);
      case 'mod_tp_src':
        return setWhole(text, 'tp_src', arg);
      case 'mod_tp_dst':
        return setWhole(text, 'tp_dst', arg);
      case 'write_metadata': {
        const masked = parseMasked(arg, 'int', 64);
        return masked === undefined ? undefined : { type: 'write-metadata', text, value: masked.value, mask: masked.mask };
      }
      case 'note':
        return /^[0-9a-f]{2}(?:\.?[0-9a-f]{2})*$/i.test(arg) || arg === '' ? { type: 'note', text, hex: arg } : undefined;
      case 'enqueue': {
        // enqueue:PORT:QUEUE outputs to PORT (through a queue).
        const port = parsePortText(arg.split(':')[0] ?? '');
        if (port === undefined) return undefined;
        return typeof port === 'string' ? { type: 'output', text, port: undefined, portName: port } : { type: 'output', text, port, portName: undefined };
      }
      default:
        if (NO_OP.has(name)) return { type: 'no-op', text, name };
        if (STATEFUL.has(name)) return { type: 'stateful', text, name };
        return undefined;
    }
  }
  if (paren > 0 && text.includes(')')) {
    const name = text.slice(0, paren);
    const close = matchingParen(text, paren);
    if (close < 0) return undefined;
    const args = text.slice(paren + 1, close);
    const rest = text.slice(close + 1);
    switch (name) {
      case 'resubmit':
      case 'resubmit_': {
        if (rest !== '') return undefined;
        const parts = args.split(',');
        if (parts.length > 3) return undefined;
        return parseResubmit(text, (parts[0] ?? '').trim(), parts[1]?.trim(), (parts[2]?.trim() ?? '') === 'ct');
      }
      case 'output': {
        const kv = keyValues(args);
        const port = kv.get('port');
        return rest !== '' || port === undefined ? undefined : parseOutputPort(text, port);
      }
      case 'controller': {
        const maxLen = keyValues(args).get('max_len');
        return rest !== '' ? undefined : { type: 'controller', text, maxLen: maxLen === undefined ? undefined : Number(maxLen) };
      }
      case 'learn': {
        const table = keyValues(args).get('table');
        return { type: 'learn', text, spec: args, table: table === undefined ? undefined : Number(table) };
      }
      case 'ct': {
        const kv = keyValues(args);
        const table = kv.get('table');
        const nat = kv.has('nat') || /(?:^|[,(])nat(?:\(|,|$)/.test(kv.get('exec') ?? '');
        return {
          type: 'ct',
          text,
          commit: kv.has('commit') || kv.has('force'),
          table: table === undefined ? undefined : Number(parseInteger(table) ?? -1),
          zone: kv.get('zone'),
          nat,
          args,
        };
      }
      case 'conjunction': {
        const m = /^(\d+),(\d+)\/(\d+)$/.exec(args);
        if (m === null) return undefined;
        return { type: 'conjunction', text, id: Number(m[1]), clause: Number(m[2]), clauses: Number(m[3]) };
      }
      case 'clone':
        return { type: 'clone', text, actions: splitTopLevel(args).map(parseAction) };
      default:
        if (NO_OP.has(name)) return { type: 'no-op', text, name };
        if (STATEFUL.has(name)) return { type: 'stateful', text, name };
        return undefined;
    }
  }
  if (NO_OP.has(text)) return { type: 'no-op', text, name: text };
  if (STATEFUL.has(text)) return { type: 'stateful', text, name: text };
  return undefined;
}

function matchingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return -1;
}

/** An action list (the text after `actions=`). `drop` alone and the empty list both drop. */
export function parseActions(text: string): OfAction[] {
  return splitTopLevel(text).map(parseAction);
}
