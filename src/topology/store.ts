// Writing host snapshots and their topology to the store, and reading "the snapshots in force at
// time T" back. The raw snapshot is kept whole (host_snapshots.body, ZSTD): analysis re-parses it,
// so a parser fix applies to old snapshots too; the topo_* tables are for SQL (dashboards, "what
// changed between T1 and T2").
import type { RawSnapshot } from '../hoststate/snapshot.js';
import type { Row, Store } from '../store/store.js';
import type { Finding } from './checks.js';
import type { HostTopology } from './model.js';

/** ClickHouse DateTime64(3) text for an ISO time: "2026-11-25 08:00:00.000". */
export function chTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new RangeError(`bad time ${JSON.stringify(iso)}`);
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

export function snapshotId(host: string, takenAt: string): string {
  return `${host}@${new Date(takenAt).toISOString()}`;
}

const n = (v: number | null): number => v ?? 0;
const s = (v: string | null): string => v ?? '';

/** Every table's rows for one host topology (and its findings). */
export function topologyRows(t: HostTopology, findings: readonly Finding[] = []): Record<string, Row[]> {
  const head = { host: t.host, taken_at: chTime(t.takenAt), snapshot_id: t.snapshotId };
  return {
    topo_bridges: t.bridges.map((b) => ({
      ...head,
      bridge: b.name,
      datapath_id: s(b.datapathId),
      datapath_type: s(b.datapathType),
      fail_mode: s(b.failMode),
      protocols: b.protocols,
      sflow_agent: s(b.sflow?.agent ?? null),
      sflow_targets: b.sflow?.targets ?? [],
      sflow_sampling: n(b.sflow?.sampling ?? null),
      sflow_polling: n(b.sflow?.polling ?? null),
      ports: b.ports,
    })),
    topo_ports: t.ports.map((p) => ({
      ...head,
      bridge: p.bridge,
      port: p.name,
      type: p.type,
      ofport: p.ofport ?? -1,
      ifindex: n(p.ifindex),
      mac: s(p.mac),
      tag: p.tag,
      trunks: p.trunks,
      vlan_mode: s(p.vlanMode),
      peer: s(p.peer),
      remote_ip: s(p.remoteIp),
      local_ip: s(p.localIp),
      tunnel_key: s(p.tunnelKey),
      neutron_port_id: s(p.neutronPortId),
      attached_mac: s(p.attachedMac),
      vm_uuid: s(p.vmUuid),
      iface_status: s(p.ifaceStatus),
      net_uuid: s(p.netUuid),
      segmentation_id: p.segmentationId,
      network_type: s(p.networkType),
      error: s(p.error),
      link_state: s(p.linkState),
      admin_state: s(p.adminState),
    })),
    topo_devices: t.devices.map((d) => ({
      ...head,
      namespace: d.namespace,
      device: d.name,
      ifindex: n(d.ifindex),
      kind: d.kind,
      master: s(d.master),
      peer_ifindex: n(d.peerIfindex),
      link_netnsid: d.linkNetnsId ?? -1,
      mac: s(d.mac),
      mtu: n(d.mtu),
      state: s(d.state),
      addresses: d.addresses.map((a) => `${a.address}/${a.prefixLength}`),
      rx_packets: n(d.rxPackets),
      tx_packets: n(d.txPackets),
      rx_dropped: n(d.rxDropped),
      tx_dropped: n(d.txDropped),
    })),
    topo_routes: t.routes.map((r) => ({
      ...head,
      namespace: r.namespace,
      route_table: r.table,
      dst: r.dst,
      gateway: s(r.gateway),
      dev: s(r.dev),
      src: s(r.src),
      proto: s(r.proto),
      scope: s(r.scope),
      type: r.type,
      metric: n(r.metric),
    })),
    topo_flows: t.flows.flatMap((f) =>
      f.flows.map((flow) => ({
        ...head,
        bridge: f.bridge,
        flow_table: flow.table,
        priority: flow.priority,
        cookie: `0x${flow.cookie.toString(16)}`,
        match: flow.matchText,
        actions: flow.actionsText,
        n_packets: flow.nPackets ?? 0n,
        n_bytes: flow.nBytes ?? 0n,
        duration_s: flow.durationS ?? 0,
      })),
    ),
    topo_iptables: t.iptables.map((r) => ({
      ...head,
      namespace: r.namespace,
      ipt_table: r.table,
      chain: r.chain,
      rule_index: r.index,
      rule: r.rule,
      target: r.target,
      packets: r.packets,
      bytes: r.bytes,
      port_device: s(r.portDevice),
    })),
    topo_edges: t.edges.map((e) => ({
      ...head,
      kind: e.kind,
      a_host: e.a.host,
      a_namespace: e.a.namespace,
      a_device: e.a.device,
      b_host: e.b.host,
      b_namespace: e.b.namespace,
      b_device: e.b.device,
      detail: s(e.detail),
    })),
    topo_vlan_map: t.vlanMap.map((m) => ({
      ...head,
      bridge: m.bridge,
      local_vlan: m.localVlan,
      segmentation_id: m.segmentationId,
      network_type: s(m.networkType),
      net_uuid: s(m.netUuid),
      source: m.source,
      direction: m.direction ?? '',
      evidence: m.evidence,
    })),
    topo_findings: findings
      .filter((f) => f.host === t.host)
      .map((f) => ({ ...head, check: f.check, severity: f.severity, device: f.device, message: f.message, evidence: f.evidence })),
  };
}

/**
 * Stores one snapshot: the topology rows, then the raw body last, so a host_snapshots row means the
 * whole snapshot is there. Idempotent per (host, takenAt): deduplication tokens drop a repeat.
 */
export async function storeSnapshot(store: Store, raw: RawSnapshot, topology: HostTopology, findings: readonly Finding[] = []): Promise<void> {
  const id = topology.snapshotId;
  for (const [table, rows] of Object.entries(topologyRows(topology, findings))) {
    if (rows.length > 0) await store.insert(table, rows, { dedupToken: `${table}:${id}` });
  }
  const failed = raw.outputs.filter((o) => o.exitCode !== 0).length;
  await store.insert(
    'host_snapshots',
    [
      {
        host: raw.host,
        taken_at: chTime(raw.takenAt),
        snapshot_id: id,
        source: raw.source,
        trigger: raw.trigger,
        producer: raw.producer,
        commands_ok: raw.outputs.length - failed,
        commands_failed: failed,
        parse_issues: topology.issues.length,
        body: JSON.stringify(raw),
      },
    ],
    { dedupToken: `host_snapshots:${id}` },
  );
}

/** The raw snapshots in force at `at` (latest taken_at <= at per host), or the latest ones. */
export async function loadSnapshots(store: Store, options: { at?: string; hosts?: readonly string[] } = {}): Promise<RawSnapshot[]> {
  const where: string[] = [];
  const params: Record<string, string | string[]> = {};
  if (options.at !== undefined) {
    where.push("taken_at <= parseDateTime64BestEffort({at:String}, 3, 'UTC')");
    params['at'] = options.at;
  }
  if (options.hosts !== undefined && options.hosts.length > 0) {
    where.push('host IN {hosts:Array(String)}');
    params['hosts'] = [...options.hosts];
  }
  const rows = await store.query<{ body: string }>(
    `SELECT argMax(body, taken_at) AS body FROM host_snapshots ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} GROUP BY host ORDER BY host`,
    params,
  );
  return rows.map((r) => JSON.parse(r.body) as RawSnapshot);
}
