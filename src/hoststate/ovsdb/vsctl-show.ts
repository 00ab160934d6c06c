// `ovs-vsctl show` (utilities/ovs-vsctl.c cmd_show, lib/db-ctl-base.c cmd_show_row): an outline of
// the database, four spaces per level. Names and values use the text notation of datum.ts.
//
//   <Open_vSwitch uuid>
//       Manager "<target>"              is_connected: true      (a line only when connected)
//       Bridge <name>
//           Controller "<target>"       is_connected: true
//           fail_mode: <mode>
//           datapath_type: <type>
//           Port <name>
//               tag: <n>   trunks: [<n>, ...]
//               Interface <name>
//                   type: <type>   options: {k=v, ...}   error: "<text>"   bfd_status: {...}
//       ovs_version: "<version>"
//
// Empty columns are not printed. A line that does not fit is reported and the outline goes on.
import { issueText, type ParseIssue, type Parsed } from '../snapshot.js';
import { atomsOf, atomText, DatumError, parseTextDatum, stringMapOf, type OvsdbDatum } from './datum.js';
import type { OvsdbInterface, OvsdbPort, OvsdbState } from './state.js';

export interface OvsShow {
  /** The Open_vSwitch row's UUID (the first line). */
  uuid: string | null;
  ovsVersion: string | null;
  /** OVSDB managers (Open_vSwitch manager_options), sorted by target. */
  managers: OvsShowTarget[];
  /** Bridges sorted by name. */
  bridges: OvsShowBridge[];
}

export interface OvsShowTarget {
  target: string;
  /** True when `show` printed is_connected: true (it prints nothing otherwise). */
  isConnected: boolean;
}

export interface OvsShowBridge {
  name: string;
  /** OpenFlow controllers, sorted by target (Neutron: tcp:127.0.0.1:6633). */
  controllers: OvsShowTarget[];
  failMode: string | null;
  /** "" when not printed (the kernel datapath). */
  datapathType: string;
  /** Ports sorted by name. */
  ports: OvsShowPort[];
}

export interface OvsShowPort {
  name: string;
  tag: number | null;
  trunks: number[];
  /** Interfaces sorted by name. */
  interfaces: OvsShowInterface[];
}

export interface OvsShowInterface {
  name: string;
  /** "" when not printed (a system device). */
  type: string;
  options: Record<string, string>;
  error: string | null;
  bfdStatus: Record<string, string>;
}

const INDENT = 4;

export function parseVsctlShow(text: string, source: string): Parsed<OvsShow> {
  const issues: ParseIssue[] = [];
  const show: OvsShow = { uuid: null, ovsVersion: null, managers: [], bridges: [] };
  let bridge: OvsShowBridge | undefined;
  let port: OvsShowPort | undefined;
  let iface: OvsShowInterface | undefined;
  let target: OvsShowTarget | undefined; // the Manager or Controller an is_connected line belongs to
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/\r$/, '');
    if (content.trim() === '') return;
    const indent = content.length - content.trimStart().length;
    const level = indent / INDENT;
    const body = content.trim();
    const report = (message: string): void => {
      issues.push({ source, line, message, text: issueText(content) });
    };
    try {
      const header = /^(Manager|Bridge|Controller|Port|Interface) (.+)$/.exec(body);
      const pair = header === null ? /^([a-z_]+): (.*)$/.exec(body) : null;
      const kind = header?.[1];
      const name = header?.[2] === undefined ? '' : single(parseTextDatum(header[2]), 'a name');
      if (level === 0 && show.uuid === null && header === null && pair === null) {
        show.uuid = single(parseTextDatum(body), 'a UUID');
      } else if (level === 1 && kind === 'Manager') {
        target = { target: name, isConnected: false };
        show.managers.push(target);
      } else if (level === 1 && kind === 'Bridge') {
        bridge = { name, controllers: [], failMode: null, datapathType: '', ports: [] };
        show.bridges.push(bridge);
        port = undefined;
        target = undefined;
      } else if (level === 1 && pair?.[1] === 'ovs_version') {
        show.ovsVersion = single(parseTextDatum(pair[2] ?? ''), 'a version');
      } else if (level === 2 && bridge !== undefined && kind === 'Controller') {
        target = { target: name, isConnected: false };
        bridge.controllers.push(target);
      } else if (level === 2 && bridge !== undefined && kind === 'Port') {
        port = { name, tag: null, trunks: [], interfaces: [] };
        bridge.ports.push(port);
        iface = undefined;
        target = undefined;
      } else if (level === 2 && bridge !== undefined && pair !== null) {
        const value = single(parseTextDatum(pair[2] ?? ''), 'a string');
        if (pair[1] === 'fail_mode') bridge.failMode = value;
        else if (pair[1] === 'datapath_type') bridge.datapathType = value;
        else report(`unknown bridge column ${pair[1]}`);
      } else if ((level === 2 || level === 3) && pair?.[1] === 'is_connected' && target !== undefined) {
        target.isConnected = single(parseTextDatum(pair[2] ?? ''), 'true or false', true) === 'true';
      } else if (level === 3 && port !== undefined && kind === 'Interface') {
        iface = { name, type: '', options: {}, error: null, bfdStatus: {} };
        port.interfaces.push(iface);
      } else if (level === 3 && port !== undefined && pair?.[1] === 'tag') {
        port.tag = integers(parseTextDatum(pair[2] ?? ''))[0] ?? null;
      } else if (level === 3 && port !== undefined && pair?.[1] === 'trunks') {
        port.trunks = integers(parseTextDatum(pair[2] ?? '')).sort((a, b) => a - b);
      } else if (level === 3 && port !== undefined && pair !== null) {
        report(`unknown port column ${pair[1]}`);
      } else if (level === 4 && iface !== undefined && pair !== null) {
        const datum = parseTextDatum(pair[2] ?? '');
        if (pair[1] === 'type') iface.type = single(datum, 'a string');
        else if (pair[1] === 'error') iface.error = single(datum, 'a string');
        else if (pair[1] === 'options') iface.options = stringMapOf(datum);
        else if (pair[1] === 'bfd_status') iface.bfdStatus = stringMapOf(datum);
        else report(`unknown interface column ${pair[1]}`);
      } else {
        report('line does not fit the outline here');
      }
    } catch (error) {
      if (!(error instanceof DatumError)) throw error;
      report(error.message);
    }
  });
  const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const byTarget = (a: OvsShowTarget, b: OvsShowTarget): number => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0);
  show.managers.sort(byTarget);
  show.bridges.sort(byName);
  for (const b of show.bridges) {
    b.controllers.sort(byTarget);
    b.ports.sort(byName);
    for (const p of b.ports) p.interfaces.sort(byName);
  }
  return { value: show, issues };
}

/** The integers of a set, or a DatumError. */
function integers(datum: OvsdbDatum): number[] {
  const atoms = atomsOf(datum);
  if (datum.kind !== 'set' || !atoms.every((a): a is number => Number.isSafeInteger(a))) throw new DatumError('expected integers');
  return atoms;
}

/** The one atom of a datum as text; `anyType` allows numbers and booleans. */
function single(datum: OvsdbDatum, what: string, anyType = false): string {
  const atoms = atomsOf(datum);
  const [atom] = atoms;
  if (datum.kind !== 'set' || atoms.length !== 1 || atom === undefined || (!anyType && typeof atom !== 'string' && typeof atom !== 'object')) {
    throw new DatumError(`expected ${what}`);
  }
  return atomText(atom);
}

/**
 * What `show` would print of a model (managers and controllers aside: the model does not read those
 * tables). Lets a test hold `show` against the lists of the same database.
 */
export function toOvsShow(state: OvsdbState): OvsShow {
  const ifaces = new Map(state.interfaces.map((i) => [i.name, i]));
  const ports = new Map(state.ports.map((p) => [p.name, p]));
  return {
    uuid: state.uuid,
    ovsVersion: state.ovsVersion,
    managers: [],
    bridges: state.bridges.map((b) => ({
      name: b.name,
      controllers: [],
      failMode: b.failMode,
      datapathType: b.datapathType,
      ports: b.ports.map((name) => {
        const p = ports.get(name);
        return {
          name,
          tag: p?.tag ?? null,
          trunks: p?.trunks ?? [],
          interfaces: (p?.interfaces ?? []).map((n) => {
            const iface = ifaces.get(n);
            return { name: n, type: iface?.type ?? '', options: iface?.options ?? {}, error: iface?.error ?? null, bfdStatus: {} };
          }),
        };
      }),
    })),
  };
}

/**
 * Fills in from `show` what a model without a Port table lacks (sos keeps no `list port`): each
 * bridge's ports, their tags, trunks and interfaces, and the interfaces' port and bridge. Ports
 * made this way have no UUID. A model with a Port table is returned as it is.
 */
export function mergeShow(state: OvsdbState, show: OvsShow): OvsdbState {
  if (state.tables.includes('Port')) return state;
  const ports: OvsdbPort[] = [];
  const ifacePort = new Map<string, { port: string; bridge: string }>();
  const bridges = state.bridges.map((b) => {
    const shown = show.bridges.find((s) => s.name === b.name);
    if (shown === undefined) return b;
    for (const p of shown.ports) {
      ports.push({
        name: p.name,
        uuid: null,
        bridge: b.name,
        tag: p.tag,
        trunks: p.trunks,
        vlanMode: null,
        interfaces: p.interfaces.map((i) => i.name),
        interfaceUuids: [],
        otherConfig: {},
        externalIds: {},
        neutron: null,
      });
      for (const i of p.interfaces) ifacePort.set(i.name, { port: p.name, bridge: b.name });
    }
    return { ...b, ports: shown.ports.map((p) => p.name) };
  });
  const interfaces = state.interfaces.map((i): OvsdbInterface => {
    const at = ifacePort.get(i.name);
    return at === undefined ? i : { ...i, port: at.port, bridge: at.bridge };
  });
  return { ...state, bridges, ports: ports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), interfaces };
}
