// The OVSDB model hoptrace keeps of a host: what the Open_vSwitch, Bridge, Port, Interface and
// sFlow tables say about forwarding (ovs-vswitchd.conf.db(5)), with row references turned into
// names. Built from rows alone, so every source (the agent's JSON lists, sos' text lists, an
// ovsdb-client dump, a JSON-RPC monitor) gives the same model for the same database.
//
// Conventions: lists are sorted (names, numbers), so two reads of one database are deep-equal; an
// optional column that is empty is `null`; maps (external_ids, other_config, options) are kept
// whole, string to string, sorted by key. Statistics and other counters are left out: they change
// all the time and are not configuration.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { atomsOf, atomText, compareAtoms, stringMapOf, type OvsdbAtom, type OvsdbDatum } from './datum.js';
import type { OvsdbColumns, OvsdbRows, OvsdbTables } from './rows.js';

/** The tables the model reads, as the schema spells them. */
export const OVSDB_MODEL_TABLES = ['Open_vSwitch', 'Bridge', 'Port', 'Interface', 'sFlow'] as const;
export type OvsdbModelTable = (typeof OVSDB_MODEL_TABLES)[number];

/** The columns the model reads per table (what a monitor asks for: counters are not watched). */
export const OVSDB_MODEL_COLUMNS = {
  Open_vSwitch: ['bridges', 'external_ids', 'ovs_version', 'db_version'],
  Bridge: ['name', 'datapath_id', 'datapath_type', 'fail_mode', 'protocols', 'sflow', 'ports', 'external_ids'],
  Port: ['name', 'interfaces', 'tag', 'trunks', 'vlan_mode', 'other_config', 'external_ids'],
  Interface: ['name', 'type', 'ofport', 'ifindex', 'mac_in_use', 'mtu', 'options', 'external_ids', 'error', 'admin_state', 'link_state'],
  sFlow: ['agent', 'targets', 'sampling', 'polling', 'header', 'external_ids'],
} as const satisfies Record<OvsdbModelTable, readonly string[]>;

export interface OvsdbState {
  /** UUID of the Open_vSwitch row; null when that table was not read. */
  uuid: string | null;
  /** Open_vSwitch external_ids:system-id: the chassis identity (OVN, some Neutron set-ups). */
  systemId: string | null;
  /** Open_vSwitch external_ids:hostname, as the distribution's start script set it. */
  hostname: string | null;
  /** Open_vSwitch ovs_version (set by ovs-ctl at start; null when nothing set it). */
  ovsVersion: string | null;
  /** Open_vSwitch db_version: the schema version. */
  dbVersion: string | null;
  /** Every bridge, by name. */
  bridges: OvsdbBridge[];
  /** Every port, by name (also ports no bridge holds: bridge is then null). */
  ports: OvsdbPort[];
  /** Every interface, by name. */
  interfaces: OvsdbInterface[];
  /** Every sFlow row, by UUID. */
  sflows: OvsdbSflow[];
  /**
   * The model tables the input held, in OVSDB_MODEL_TABLES order. A table missing here is unknown,
   * not empty: sos, for one, keeps no Port or sFlow list (mergeShow fills the ports in from `show`).
   */
  tables: OvsdbModelTable[];
}

export interface OvsdbBridge {
  name: string;
  uuid: string;
  /** OpenFlow datapath id, 16 hex digits as OVS stores it ("00006ac12bbcf740"); null before ovs-vswitchd set it. */
  datapathId: string | null;
  /** "" or "system" is the kernel datapath, "netdev" the userspace one. */
  datapathType: string;
  /** "standalone" or "secure"; null when unset (OVS then acts standalone). Neutron sets secure. */
  failMode: string | null;
  /** OpenFlow versions allowed ("OpenFlow13"...), sorted; empty means the OVS default. */
  protocols: string[];
  /** UUID of the bridge's sFlow row (see OvsdbState.sflows), or null. */
  sflow: string | null;
  /** Names of its ports, sorted. A port whose row was not read is only in portUuids. */
  ports: string[];
  /** UUIDs of its ports, sorted. */
  portUuids: string[];
  externalIds: Record<string, string>;
}

export interface OvsdbPort {
  name: string;
  /** null for a port known only from `ovs-vsctl show` (mergeShow). */
  uuid: string | null;
  /** Name of the bridge holding it; null when no bridge read holds it. */
  bridge: string | null;
  /** Access VLAN (the Neutron agent's local VLAN on br-int); null for none. */
  tag: number | null;
  /** VLANs it trunks, sorted; empty means all when it trunks at all (see vlanMode). */
  trunks: number[];
  /** access | native-tagged | native-untagged | trunk | dot1q-tunnel; null is the default (access with a tag, else trunk). */
  vlanMode: string | null;
  /** Names of its interfaces, sorted (one, except for bonds). */
  interfaces: string[];
  /** UUIDs of its interfaces, sorted; empty for a port known only from `show`. */
  interfaceUuids: string[];
  /** other_config, whole: Neutron keeps net_uuid, network_type, physical_network, segmentation_id, tag here. */
  otherConfig: Record<string, string>;
  externalIds: Record<string, string>;
  /** The Neutron OVS agent's binding, from otherConfig; null when none of its keys is there. */
  neutron: NeutronPortConfig | null;
}

/** What the Neutron OVS agent writes into a br-int port's other_config (ovs_neutron_agent.port_bound). */
export interface NeutronPortConfig {
  /** other_config:net_uuid, the Neutron network id. */
  netUuid: string | null;
  /** other_config:network_type: vxlan, gre, geneve, vlan, flat, local. */
  networkType: string | null;
  /** other_config:physical_network for vlan and flat networks. */
  physicalNetwork: string | null;
  /** other_config:segmentation_id: VNI, GRE key or VLAN id of the network; null for flat/local. */
  segmentationId: number | null;
  /** other_config:tag: the local VLAN the agent chose (what the port's tag should be). */
  localVlan: number | null;
}

export interface OvsdbInterface {
  name: string;
  uuid: string;
  /** Name of the port holding it; null when no port read holds it. */
  port: string | null;
  /** Name of that port's bridge, or null. */
  bridge: string | null;
  /** "" (a system device), internal, patch, gre, vxlan, geneve, tap, dpdk... */
  type: string;
  /** OpenFlow port number; -1 when OVS could not add it (see error); null before it tried. */
  ofport: number | null;
  /** Kernel ifIndex (what sFlow reports as input/output); null or 0 for devices without one (patch, tunnels). */
  ifindex: number | null;
  /** mac_in_use: the MAC the device has. */
  mac: string | null;
  mtu: number | null;
  /** options, whole: remote_ip, local_ip, key, in_key, out_key, dst_port for tunnels, peer for patch ports. */
  options: Record<string, string>;
  /** external_ids, whole: Nova/Neutron keep iface-id, attached-mac, vm-uuid, iface-status here. */
  externalIds: Record<string, string>;
  /** Why OVS could not set the interface up ("could not open network device X (No such device)"), or null. */
  error: string | null;
  /** "up" or "down": administrative state; null when unknown. */
  adminState: string | null;
  /** "up" or "down": carrier; null when unknown. */
  linkState: string | null;
  /** The Neutron port this interface plugs (from externalIds); null when it carries no iface-id. */
  neutron: NeutronInterfaceBinding | null;
}

export interface NeutronInterfaceBinding {
  /** external_ids:iface-id: the Neutron port id. */
  portId: string;
  /** external_ids:attached-mac: the instance's MAC (the tap's own MAC differs). */
  attachedMac: string | null;
  /** external_ids:vm-uuid: the Nova instance. */
  vmUuid: string | null;
  /** external_ids:iface-status: active or inactive. */
  status: string | null;
}

export interface OvsdbSflow {
  uuid: string;
  /** Device (or address) whose IP address is the sFlow agent address. */
  agent: string | null;
  /** Collectors, "address:port", sorted. */
  targets: string[];
  /** 1 in N frames sampled; null for the OVS default (400). */
  sampling: number | null;
  /** Counter polling interval in seconds; null for the default (30). */
  polling: number | null;
  /** Bytes of each sampled frame's header; null for the default (128). */
  header: number | null;
  /** Names of the bridges using this row, sorted. */
  bridges: string[];
  externalIds: Record<string, string>;
}

/** Where builder issues point: the model, not a line (line 0). */
const MODEL_SOURCE = 'ovsdb model';

/**
 * The model of some tables (table names as the schema spells them; see canonicalTableName). Values
 * of the wrong type are reported and read as absent; references to rows not read are kept as UUIDs.
 * `source` names where the rows came from in issues: one name, or one per table.
 */
export function buildOvsdbState(tables: OvsdbTables, source: string | ReadonlyMap<string, string> = MODEL_SOURCE): Parsed<OvsdbState> {
  const issues: ParseIssue[] = [];
  const sourceOf = (table: string): string => (typeof source === 'string' ? source : (source.get(table) ?? MODEL_SOURCE));
  const read = new Reader(sourceOf, issues);
  const table = (name: OvsdbModelTable): OvsdbRows => tables.get(name) ?? new Map();
  const uuidName = (rows: OvsdbRows) => (uuid: string): string | undefined => {
    const name = rows.get(uuid)?.get('name');
    return name === undefined ? undefined : atomsOf(name).map(atomText)[0];
  };
  const portName = uuidName(table('Port'));
  const ifaceName = uuidName(table('Interface'));
  const bridgeName = uuidName(table('Bridge'));

  const portBridge = new Map<string, string>(); // port uuid → bridge uuid
  const ifacePort = new Map<string, string>(); // interface uuid → port uuid
  const sflowBridges = new Map<string, string[]>();

  const bridges = [...table('Bridge')].map(([uuid, row]): OvsdbBridge => {
    const at = `Bridge ${uuid}`;
    const name = read.name(row, at);
    const portUuids = read.uuids(row, 'ports', at);
    for (const port of portUuids) portBridge.set(port, uuid);
    const sflow = read.uuids(row, 'sflow', at)[0] ?? null;
    if (sflow !== null) sflowBridges.set(sflow, [...(sflowBridges.get(sflow) ?? []), name]);
    return {
      name,
      uuid,
      datapathId: read.string(row, 'datapath_id', at),
      datapathType: read.string(row, 'datapath_type', at) ?? '',
      failMode: read.string(row, 'fail_mode', at),
      protocols: read.strings(row, 'protocols', at),
      sflow,
      ports: names(portUuids, portName),
      portUuids,
      externalIds: stringMapOf(row.get('external_ids')),
    };
  });

  const ports = [...table('Port')].map(([uuid, row]): OvsdbPort => {
    const at = `Port ${uuid}`;
    const interfaceUuids = read.uuids(row, 'interfaces', at);
    for (const iface of interfaceUuids) ifacePort.set(iface, uuid);
    const otherConfig = stringMapOf(row.get('other_config'));
    const bridge = portBridge.get(uuid);
    return {
      name: read.name(row, at),
      uuid,
      bridge: bridge === undefined ? null : (bridgeName(bridge) ?? null),
      tag: read.integer(row, 'tag', at),
      trunks: read.integers(row, 'trunks', at),
      vlanMode: read.string(row, 'vlan_mode', at),
      interfaces: names(interfaceUuids, ifaceName),
      interfaceUuids,
      otherConfig,
      externalIds: stringMapOf(row.get('external_ids')),
      neutron: neutronPortConfig(otherConfig, at, read),
    };
  });

  const interfaces = [...table('Interface')].map(([uuid, row]): OvsdbInterface => {
    const at = `Interface ${uuid}`;
    const port = ifacePort.get(uuid);
    const bridge = port === undefined ? undefined : portBridge.get(port);
    const externalIds = stringMapOf(row.get('external_ids'));
    const portId = externalIds['iface-id'];
    return {
      name: read.name(row, at),
      uuid,
      port: port === undefined ? null : (portName(port) ?? null),
      bridge: bridge === undefined ? null : (bridgeName(bridge) ?? null),
      type: read.string(row, 'type', at) ?? '',
      ofport: read.integer(row, 'ofport', at),
      ifindex: read.integer(row, 'ifindex', at),
      mac: read.string(row, 'mac_in_use', at),
      mtu: read.integer(row, 'mtu', at),
      options: stringMapOf(row.get('options')),
      externalIds,
      error: read.string(row, 'error', at),
      adminState: read.string(row, 'admin_state', at),
      linkState: read.string(row, 'link_state', at),
      neutron: portId === undefined ? null : {
        portId,
        attachedMac: externalIds['attached-mac'] ?? null,
        vmUuid: externalIds['vm-uuid'] ?? null,
        status: externalIds['iface-status'] ?? null,
      },
    };
  });

  const sflows = [...table('sFlow')].map(([uuid, row]): OvsdbSflow => {
    const at = `sFlow ${uuid}`;
    return {
      uuid,
      agent: read.string(row, 'agent', at),
      targets: read.strings(row, 'targets', at),
      sampling: read.integer(row, 'sampling', at),
      polling: read.integer(row, 'polling', at),
      header: read.integer(row, 'header', at),
      bridges: (sflowBridges.get(uuid) ?? []).sort(compareText),
      externalIds: stringMapOf(row.get('external_ids')),
    };
  });

  const [system] = [...table('Open_vSwitch')];
  if (table('Open_vSwitch').size > 1) issues.push({ source: sourceOf('Open_vSwitch'), line: 0, message: `${table('Open_vSwitch').size} Open_vSwitch rows: the first is used` });
  const systemIds = system === undefined ? undefined : stringMapOf(system[1].get('external_ids'));
  const at = `Open_vSwitch ${system?.[0] ?? ''}`;
  const byName = <T extends { name: string; uuid: string | null }>(a: T, b: T): number => compareText(a.name, b.name) || compareText(a.uuid ?? '', b.uuid ?? '');
  return {
    value: {
      uuid: system?.[0] ?? null,
      systemId: systemIds?.['system-id'] ?? null,
      hostname: systemIds?.['hostname'] ?? null,
      ovsVersion: system === undefined ? null : read.string(system[1], 'ovs_version', at),
      dbVersion: system === undefined ? null : read.string(system[1], 'db_version', at),
      bridges: bridges.sort(byName),
      ports: ports.sort(byName),
      interfaces: interfaces.sort(byName),
      sflows: sflows.sort((a, b) => compareText(a.uuid, b.uuid)),
      tables: OVSDB_MODEL_TABLES.filter((t) => tables.has(t)),
    },
    issues,
  };
}

/** The schema's spelling of a table name given in any case ("interface" → "Interface"), or the name itself. */
export function canonicalTableName(name: string): string {
  return OVSDB_MODEL_TABLES.find((t) => t.toLowerCase() === name.toLowerCase()) ?? name;
}

function neutronPortConfig(otherConfig: Record<string, string>, at: string, read: Reader): NeutronPortConfig | null {
  const keys = ['net_uuid', 'network_type', 'physical_network', 'segmentation_id', 'tag'];
  if (!keys.some((k) => otherConfig[k] !== undefined)) return null;
  return {
    netUuid: otherConfig['net_uuid'] ?? null,
    networkType: otherConfig['network_type'] ?? null,
    // The agent writes the string "None" for networks without one (Python's str(None)).
    physicalNetwork: otherConfig['physical_network'] === undefined || otherConfig['physical_network'] === 'None' ? null : otherConfig['physical_network'],
    segmentationId: read.integerText(otherConfig['segmentation_id'], 'other_config:segmentation_id', at),
    localVlan: read.integerText(otherConfig['tag'], 'other_config:tag', at),
  };
}

function names(uuids: readonly string[], nameOf: (uuid: string) => string | undefined): string[] {
  return uuids.map(nameOf).filter((n): n is string => n !== undefined).sort(compareText);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Column reads that report a value of the wrong type and read it as absent. */
class Reader {
  readonly #sourceOf: (table: string) => string;
  readonly #issues: ParseIssue[];
  constructor(sourceOf: (table: string) => string, issues: ParseIssue[]) {
    this.#sourceOf = sourceOf;
    this.#issues = issues;
  }

  #atoms(row: OvsdbColumns, column: string, at: string, want: string, ok: (a: OvsdbAtom) => boolean): OvsdbAtom[] {
    const datum: OvsdbDatum | undefined = row.get(column);
    if (datum === undefined) return [];
    const atoms = atomsOf(datum);
    if (datum.kind === 'map' ? datum.pairs.length > 0 : !atoms.every(ok)) {
      this.#report(at, `${column} is not ${want}`);
      return [];
    }
    return atoms;
  }

  /** `at` is "<table> <uuid>": the issue names the table's source and the row. */
  #report(at: string, message: string): void {
    this.#issues.push({ source: this.#sourceOf(at.split(' ')[0] ?? ''), line: 0, message: `${at}: ${message}` });
  }

  name(row: OvsdbColumns, at: string): string {
    const name = this.string(row, 'name', at);
    if (name === null) this.#report(at, 'no name');
    return name ?? '';
  }

  string(row: OvsdbColumns, column: string, at: string): string | null {
    const atoms = this.#atoms(row, column, at, 'a string', (a) => typeof a === 'string');
    return typeof atoms[0] === 'string' ? atoms[0] : null;
  }

  strings(row: OvsdbColumns, column: string, at: string): string[] {
    return this.#atoms(row, column, at, 'a set of strings', (a) => typeof a === 'string').map(atomText).sort(compareText);
  }

  integer(row: OvsdbColumns, column: string, at: string): number | null {
    return this.integers(row, column, at)[0] ?? null;
  }

  integers(row: OvsdbColumns, column: string, at: string): number[] {
    return (this.#atoms(row, column, at, 'a set of integers', (a) => Number.isSafeInteger(a)) as number[]).sort(compareAtoms);
  }

  uuids(row: OvsdbColumns, column: string, at: string): string[] {
    return this.#atoms(row, column, at, 'a set of UUIDs', (a) => typeof a === 'object').map(atomText).sort(compareText);
  }

  integerText(text: string | undefined, what: string, at: string): number | null {
    if (text === undefined || text === 'None') return null;
    if (/^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))) return Number(text);
    this.#report(at, `${what} ${JSON.stringify(text)} is not an integer`);
    return null;
  }
}
