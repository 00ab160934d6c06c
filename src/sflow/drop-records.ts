// Flow records of sflow.org sflow_drops.txt ("sFlow Dropped Packet Notification Structures"),
// enterprise 0, formats 1036-1042. They ride in discarded_packet samples (format 5) and may also
// appear in flow samples. Strings are XDR string<> (a u32 length, the bytes, padding to 4); a
// missing final pad is tolerated (capture goflow2-drop-extended-function-unpadded: length 10).
//
//   struct extended_egress_queue      (1036) { unsigned int queue; }
//   struct extended_acl               (1037) { unsigned int number; string name<>; acl_direction direction; }
//                                             /* acl_direction: 0 unknown, 1 ingress, 2 egress */
//   struct extended_function          (1038) { string symbol<>; }
//   struct extended_transit           (1039) { unsigned int delay; /* ns */ }
//   struct extended_queue             (1040) { unsigned int depth; /* bytes */ }
//   struct extended_hw_trap           (1041) { string group<>; string trap<>; }   /* devlink trap */
//   struct extended_linux_drop_reason (1042) { string reason<>; }   /* kernel skb drop reason */
import type { Reader } from './reader.js';
import type {
  ExtendedAcl,
  ExtendedEgressQueue,
  ExtendedFunction,
  ExtendedHwTrap,
  ExtendedLinuxReason,
  ExtendedQueue,
  ExtendedTransit,
} from './types.js';

const RECORD_HEADER_BYTES = 8;

export function decodeExtendedEgressQueue(r: Reader): ExtendedEgressQueue {
  return { kind: 'extended_egress_queue', offset: r.start - RECORD_HEADER_BYTES, length: r.length, queue: r.u32('queue') };
}

export function decodeExtendedAcl(r: Reader): ExtendedAcl {
  const number = r.u32('number');
  const name = r.string('name');
  return { kind: 'extended_acl', offset: r.start - RECORD_HEADER_BYTES, length: r.length, number, name, direction: r.u32('direction') };
}

export function decodeExtendedFunction(r: Reader): ExtendedFunction {
  return { kind: 'extended_function', offset: r.start - RECORD_HEADER_BYTES, length: r.length, symbol: r.string('symbol') };
}

export function decodeExtendedTransit(r: Reader): ExtendedTransit {
  return { kind: 'extended_transit', offset: r.start - RECORD_HEADER_BYTES, length: r.length, delay: r.u32('delay') };
}

export function decodeExtendedQueue(r: Reader): ExtendedQueue {
  return { kind: 'extended_queue', offset: r.start - RECORD_HEADER_BYTES, length: r.length, depth: r.u32('depth') };
}

export function decodeExtendedHwTrap(r: Reader): ExtendedHwTrap {
  const group = r.string('group');
  return { kind: 'extended_hw_trap', offset: r.start - RECORD_HEADER_BYTES, length: r.length, group, trap: r.string('trap') };
}

export function decodeExtendedLinuxReason(r: Reader): ExtendedLinuxReason {
  return { kind: 'extended_linux_drop_reason', offset: r.start - RECORD_HEADER_BYTES, length: r.length, reason: r.string('reason') };
}
