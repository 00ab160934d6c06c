// Graphviz DOT for host topologies: one cluster per host, inside it one per OVS bridge, Linux
// bridge and network namespace; edges for veth pairs, patch ports and tunnels (across hosts).
// Findings, when given, paint the device red and put the check name on it.
import type { Finding } from './checks.js';
import type { HostTopology } from './model.js';

function q(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function nodeId(host: string, namespace: string, device: string): string {
  return q(`${host}/${namespace}/${device}`);
}

function portNodeId(host: string, bridge: string, port: string): string {
  return q(`${host}/ovs:${bridge}/${port}`);
}

export interface DotOptions {
  findings?: readonly Finding[];
  /** Leave out devices no edge, bridge or namespace mentions (lo, management links). */
  hideLoose?: boolean;
}

export function topologyToDot(hosts: readonly HostTopology[], options: DotOptions = {}): string {
  const out: string[] = [];
  const bad = new Map<string, string[]>();
  for (const f of options.findings ?? []) {
    for (const device of f.device.split(', ')) {
      const key = `${f.host}/${device}`;
      bad.set(key, [...(bad.get(key) ?? []), f.check]);
    }
  }
  const mark = (host: string, device: string): string => {
    const checks = bad.get(`${host}/${device}`);
    return checks === undefined ? '' : `, color=red, fontcolor=red, xlabel=${q(checks.join('\\n'))}`;
  };
  out.push('digraph hoptrace {');
  out.push('  graph [rankdir=LR, fontname="Helvetica", compound=true, newrank=true];');
  out.push('  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];');
  out.push('  edge [fontname="Helvetica", fontsize=9, dir=none];');
  const ovsPortNode = new Map<string, string>(); // host/name -> node id
  hosts.forEach((h, hi) => {
    out.push(`  subgraph cluster_h${hi} {`);
    out.push(`    label=${q(`${h.host}  (${h.takenAt})`)}; style=bold;`);
    h.bridges.forEach((b, bi) => {
      out.push(`    subgraph cluster_h${hi}_b${bi} {`);
      out.push(`      label=${q(`OVS ${b.name}${b.datapathId === null ? '' : ` dpid ${b.datapathId}`}`)}; style=filled; fillcolor="#eef3fb";`);
      for (const p of h.ports.filter((x) => x.bridge === b.name)) {
        const id = portNodeId(h.host, b.name, p.name);
        ovsPortNode.set(`${h.host}/${p.name}`, id);
        const extra = [p.ofport === null ? null : `ofport ${p.ofport}`, p.tag === null ? null : `tag ${p.tag}`, p.type === '' ? null : p.type, p.remoteIp === null ? null : `→ ${p.remoteIp}`]
          .filter((x) => x !== null)
          .join(', ');
        out.push(`      ${id} [label=${q(`${p.name}\\n${extra}`)}${mark(h.host, p.name)}];`);
      }
      out.push('    }');
    });
    const namespaces = ['', ...h.namespaces.filter((n) => n !== '')];
    const mentioned = new Set<string>();
    for (const e of h.edges) {
      mentioned.add(`${e.a.namespace}/${e.a.device}`);
      mentioned.add(`${e.b.namespace}/${e.b.device}`);
    }
    for (const lb of h.linuxBridges) {
      mentioned.add(`${lb.namespace}/${lb.name}`);
      for (const m of lb.members) mentioned.add(`${lb.namespace}/${m}`);
    }
    namespaces.forEach((ns, ni) => {
      const devices = h.devices.filter(
        (d) => d.namespace === ns && d.name !== 'lo' && !ovsPortNode.has(`${h.host}/${d.name}`) && (options.hideLoose !== true || mentioned.has(`${ns}/${d.name}`) || ns !== ''),
      );
      if (devices.length === 0) return;
      out.push(`    subgraph cluster_h${hi}_n${ni} {`);
      out.push(`      label=${q(ns === '' ? 'root namespace' : `netns ${ns}`)}; style=dashed;`);
      for (const d of devices) {
        const addr = d.addresses.map((a) => `${a.address}/${a.prefixLength}`).join('\\n');
        const isBridge = h.linuxBridges.some((lb) => lb.namespace === ns && lb.name === d.name);
        out.push(`      ${nodeId(h.host, ns, d.name)} [label=${q(`${d.name}${d.kind === '' ? '' : ` (${d.kind})`}${addr === '' ? '' : `\\n${addr}`}`)}${isBridge ? ', shape=box3d' : ''}${mark(h.host, d.name)}];`);
      }
      out.push('    }');
    });
    out.push('  }');
  });
  const ref = (host: string, namespace: string, device: string): string =>
    (namespace === '' ? ovsPortNode.get(`${host}/${device}`) : undefined) ?? nodeId(host, namespace, device);
  const seen = new Set<string>();
  for (const h of hosts) {
    for (const lb of h.linuxBridges) {
      for (const m of lb.members) out.push(`  ${ref(h.host, lb.namespace, m)} -> ${nodeId(h.host, lb.namespace, lb.name)} [style=dotted];`);
    }
    for (const e of h.edges) {
      if (e.kind === 'ovs-member' || e.kind === 'linux-bridge-member' || e.kind === 'neutron-port') continue;
      const a = ref(e.a.host, e.a.namespace, e.a.device);
      const b = ref(e.b.host, e.b.namespace, e.b.device);
      const key = [a, b].sort().join('|') + e.kind;
      if (seen.has(key)) continue;
      seen.add(key);
      const style = e.kind === 'veth' ? 'color="#2a7f2a", penwidth=2' : e.kind === 'patch' ? 'color="#1f5fbf", penwidth=2' : 'color="#b36b00", penwidth=2, style=dashed';
      out.push(`  ${a} -> ${b} [${style}, label=${q(e.kind === 'tunnel' ? `${e.detail ?? 'tunnel'}` : e.kind)}];`);
    }
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
