// The OpenFlow rule model shared by the dump-flows parser and the walk: a rule's table, priority,
// cookie, counters, its match (each field normalised to value + mask, with the text it came from)
// and its actions (ovs-actions(7)), each action keeping its own text.
import type { FieldId } from './fields.js';

/** One `field=value[/mask]` of a match, or a protocol shorthand's contribution. */
export interface MatchField {
  /** The name as written (`dl_vlan`, `tun_id`, `ip` for a shorthand's dl_type...). */
  name: string;
  /** The text as written (`dl_dst=01:00:00:00:00:00/01:00:00:00:00:00`). */
  text: string;
  /** The frame slot (see FIELD); undefined for a field this model does not know: such a rule cannot be evaluated. */
  field: FieldId | undefined;
  /** Bits of the slot to compare (already shifted into place). */
  mask: bigint;
  /** Expected bits (already masked). */
  value: bigint;
  /** in_port given by name (`in_port="patch-int"`): resolved against the bridge's ports by the walk. */
  portName?: string;
}

/** `NAME[start..end]`: bits `ofs .. ofs+bits-1` of a slot. */
export interface Subfield {
  /** As written, e.g. `NXM_NX_REG0[0..15]`. */
  text: string;
  field: FieldId;
  ofs: number;
  bits: number;
}

interface ActionText {
  /** The action as ovs-ofctl printed it. */
  text: string;
}

/** ovs-actions(7), as ovs-ofctl prints them. `unknown` is kept verbatim: the walk cannot go past it. */
export type OfAction = ActionText &
  (
    | { type: 'output'; port: number | undefined; portName: string | undefined }
    | { type: 'output-field'; src: Subfield }
    | { type: 'controller'; maxLen: number | undefined }
    | { type: 'drop' }
    | { type: 'resubmit'; port: number | undefined; portName: string | undefined; table: number | undefined; ct: boolean }
    | { type: 'goto-table'; table: number }
    | { type: 'set-vlan-vid'; vid: number; pushIfNeeded: boolean }
    | { type: 'set-vlan-pcp'; pcp: number; pushIfNeeded: boolean }
    | { type: 'push-vlan'; ethertype: number }
    | { type: 'pop-vlan' }
    | { type: 'set-field'; dst: Subfield; value: bigint; mask: bigint; name: string }
    | { type: 'move'; src: Subfield; dst: Subfield }
    | { type: 'write-metadata'; value: bigint; mask: bigint }
    | { type: 'dec-ttl' }
    | { type: 'learn'; table: number | undefined; spec: string }
    | { type: 'note'; hex: string }
    | { type: 'ct'; commit: boolean; table: number | undefined; zone: string | undefined; nat: boolean; args: string }
    | { type: 'ct-clear' }
    | { type: 'conjunction'; id: number; clause: number; clauses: number }
    | { type: 'clone'; actions: OfAction[] }
    | { type: 'exit' }
    /** Actions with no effect on where the frame goes (sample, set_queue, pop_queue, meter, fin_timeout, clear_actions). */
    | { type: 'no-op'; name: string }
    /** Actions understood but whose outcome depends on state a dump does not hold (multipath, bundle, group, check_pkt_larger, write_actions...). */
    | { type: 'stateful'; name: string }
    | { type: 'unknown' }
  );

export type OfActionType = OfAction['type'];

export interface OfFlow {
  table: number;
  priority: number;
  cookie: bigint;
  match: MatchField[];
  /** The match as printed (without priority), e.g. `in_port=1,dl_vlan=1`; empty for match-all. */
  matchText: string;
  actions: OfAction[];
  /** The actions as printed after `actions=`. */
  actionsText: string;
  /** Counters as printed (absent with --no-stats). */
  durationS?: number;
  nPackets?: bigint;
  nBytes?: bigint;
  idleAge?: number;
  hardAge?: number;
  idleTimeout?: number;
  hardTimeout?: number;
  importance?: number;
  /** Flags ovs-ofctl prints bare (`reset_counts`, `send_flow_rem`, `no_packet_counts`...). */
  flags: string[];
  /** 1-based line in the dump. */
  line: number;
  /** True when some action is `unknown` or some match field is not in the model. */
  hasUnknown: boolean;
}

/** The default priority OpenFlow gives a rule, which ovs-ofctl omits when printing (OFP_DEFAULT_PRIORITY). */
export const DEFAULT_PRIORITY = 0x8000;
