// Builders for network frames (Ethernet, 802.1Q, ARP, IPv4, IPv6 and its extension headers, TCP,
// UDP, ICMP, GRE, VXLAN, Geneve) as plain byte arrays, for sampled-header tests. Checksums are left
// at zero: the decoder does not read them.
import { ipv4Bytes, ipv6Bytes, macBytes } from './xdr-writer.js';

const be16 = (v: number): number[] => [(v >>> 8) & 0xff, v & 0xff];
const be32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

export interface Tag { tpid: number; priority?: number; dei?: number; id: number }

export function ethernet(dst: string, src: string, type: number, payload: number[], tags: readonly Tag[] = []): number[] {
  const out = [...macBytes(dst), ...macBytes(src)];
  for (const t of tags) out.push(...be16(t.tpid), ...be16(((t.priority ?? 0) << 13) | ((t.dei ?? 0) << 12) | t.id));
  return [...out, ...be16(type), ...payload];
}

export function arp(operation: number, senderMac: string, senderIp: string, targetMac: string, targetIp: string): number[] {
  return [...be16(1), ...be16(0x0800), 6, 4, ...be16(operation), ...macBytes(senderMac), ...ipv4Bytes(senderIp), ...macBytes(targetMac), ...ipv4Bytes(targetIp)];
}

export interface Ipv4Spec {
  src: string; dst: string; protocol: number; ttl?: number; tos?: number; id?: number;
  moreFragments?: boolean; fragmentOffset?: number; options?: number[]; totalLength?: number;
}

export function ipv4(spec: Ipv4Spec, payload: number[]): number[] {
  const options = spec.options ?? [];
  const ihl = 5 + options.length / 4;
  const total = spec.totalLength ?? ihl * 4 + payload.length;
  const flags = ((spec.moreFragments === true ? 1 : 0) << 13) | (spec.fragmentOffset ?? 0);
  return [
    0x40 | ihl, spec.tos ?? 0, ...be16(total), ...be16(spec.id ?? 0), ...be16(flags), spec.ttl ?? 64, spec.protocol, 0, 0,
    ...ipv4Bytes(spec.src), ...ipv4Bytes(spec.dst), ...options, ...payload,
  ];
}

export interface Ipv6Spec { src: string; dst: string; next: number; hopLimit?: number; trafficClass?: number }

export function ipv6(spec: Ipv6Spec, payload: number[]): number[] {
  const tc = spec.trafficClass ?? 0;
  return [0x60 | (tc >>> 4), (tc & 0x0f) << 4, 0, 0, ...be16(payload.length), spec.next, spec.hopLimit ?? 64, ...ipv6Bytes(spec.src), ...ipv6Bytes(spec.dst), ...payload];
}

/** Hop-by-hop / routing / destination options header of 8 * (1 + extra) bytes. */
export function ipv6Options(next: number, payload: number[], extra = 0): number[] {
  return [next, extra, ...new Array<number>(6 + 8 * extra).fill(0), ...payload];
}

export function ipv6Fragment(next: number, offset: number, more: boolean, id: number, payload: number[]): number[] {
  return [next, 0, ...be16((offset << 3) | (more ? 1 : 0)), ...be32(id), ...payload];
}

export function tcp(src: number, dst: number, flags: number, payload: number[] = []): number[] {
  return [...be16(src), ...be16(dst), ...be32(1), ...be32(0), 0x50, flags, ...be16(65535), 0, 0, 0, 0, ...payload];
}

export function udp(src: number, dst: number, payload: number[] = []): number[] {
  return [...be16(src), ...be16(dst), ...be16(8 + payload.length), 0, 0, ...payload];
}

export function icmp(type: number, code: number, rest: number[] = [0, 0, 0, 0]): number[] {
  return [type, code, 0, 0, ...rest];
}

export function gre(spec: { protocol: number; key?: number; checksum?: boolean; sequence?: number; version?: number }, payload: number[]): number[] {
  const flags = (spec.checksum === true ? 0x8000 : 0) | (spec.key !== undefined ? 0x2000 : 0) | (spec.sequence !== undefined ? 0x1000 : 0) | (spec.version ?? 0);
  const out = [...be16(flags), ...be16(spec.protocol)];
  if (spec.checksum === true) out.push(0, 0, 0, 0);
  if (spec.key !== undefined) out.push(...be32(spec.key));
  if (spec.sequence !== undefined) out.push(...be32(spec.sequence));
  return [...out, ...payload];
}

export function vxlan(vni: number, payload: number[]): number[] {
  return [0x08, 0, 0, 0, ...be32(vni << 8), ...payload];
}

export function geneve(vni: number, protocol: number, options: number[], payload: number[]): number[] {
  return [options.length / 4, 0, ...be16(protocol), ...be32(vni << 8), ...options, ...payload];
}
