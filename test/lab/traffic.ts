// Traffic from lab instances: ping (iputils), a DHCP DISCOVER/REQUEST exchange (a small Node
// client run inside the instance namespace: the machine has no dhclient/udhcpc), and ARP requests
// (a small Python AF_PACKET client: the machine has no arping). Every exchange is bounded in count
// and time, and targets only lab addresses.
import { exec, ping as pingIn, type PingResult } from '../support/netns.js';
import { findCommand } from '../support/ovs-lab.js';

/** What ping/dhcpRequest/arping need of an instance (a LabInstance fits, so does a plain namespace spec). */
export interface TrafficSource {
  netns: string;
  mac: string;
  ip: string;
  devices?: { eth0: string };
}

/** Pings `ip` from the instance `count` times (0.2 s apart, 2 s wait each); never throws on loss. */
export async function ping(from: TrafficSource, ip: string, count = 3): Promise<PingResult> {
  return pingIn(from.netns, ip, { count, expect: 'any' });
}

/** Most echo requests pingBurst sends at once. */
export const MAX_BURST = 1000;

/**
 * A bounded burst of echo requests (`count` of them, `intervalS` apart, at least 0.005 s: needs
 * root), for sampling 1-in-N: a few hundred frames give each bridge a few samples. Waits 1 s for
 * the last replies; never throws on loss.
 */
export async function pingBurst(from: TrafficSource, ip: string, count: number, intervalS = 0.01): Promise<PingResult> {
  if (!(Number.isInteger(count) && count > 0 && count <= MAX_BURST)) throw new Error(`pingBurst: count ${count} not in 1..${MAX_BURST}`);
  if (!(intervalS >= 0.005)) throw new Error(`pingBurst: interval ${intervalS} s below 0.005 s`);
  return pingIn(from.netns, ip, { count, intervalS, waitS: 1, expect: 'any' });
}

export interface DhcpResult {
  /** The exchange ended with DHCPACK. */
  acked: boolean;
  /** Address offered (yiaddr of the OFFER), if any. */
  offered: string | undefined;
  /** Server identifier (option 54) of the OFFER. */
  server: string | undefined;
  /** Option 3 (router) and 26 (MTU) from the ACK. */
  router: string | undefined;
  mtu: number | undefined;
  /** DHCP message types seen, in order (2 OFFER, 5 ACK, 6 NAK). */
  received: number[];
  error: string | undefined;
}

// Runs as `node -e` in the instance namespace: argv = [mac, timeoutMs]. Binds 0.0.0.0:68, sends
// DISCOVER (broadcast flag) to 255.255.255.255:67, then REQUEST for the offered address; prints JSON.
const DHCP_CLIENT = String.raw`
const dgram = require('node:dgram');
const [mac, timeoutMs] = [process.argv[1], Number(process.argv[2])];
const xid = Math.floor(Math.random() * 0xffffffff) >>> 0;
const macBytes = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
function message(type, extra) {
  const b = Buffer.alloc(240);
  b[0] = 1; b[1] = 1; b[2] = 6; b.writeUInt32BE(xid, 4); b.writeUInt16BE(0x8000, 10);
  macBytes.copy(b, 28); b.writeUInt32BE(0x63825363, 236);
  const opts = [53, 1, type, 61, 7, 1, ...macBytes, 55, 4, 1, 3, 6, 26, ...extra, 255];
  const out = Buffer.concat([b, Buffer.from(opts)]);
  return out.length < 300 ? Buffer.concat([out, Buffer.alloc(300 - out.length)]) : out;
}
function parse(b) {
  if (b.length < 240 || b[0] !== 2 || b.readUInt32BE(4) !== xid) return undefined;
  const r = { yiaddr: [...b.subarray(16, 20)].join('.'), options: {} };
  for (let i = 240; i < b.length && b[i] !== 255;) { if (b[i] === 0) { i++; continue; } r.options[b[i]] = b.subarray(i + 2, i + 2 + b[i + 1]); i += 2 + b[i + 1]; }
  return r;
}
const ip = (v) => (v === undefined ? undefined : [...v.subarray(0, 4)].join('.'));
const result = { acked: false, offered: undefined, server: undefined, router: undefined, mtu: undefined, received: [], error: undefined };
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const done = (error) => { if (error !== undefined) result.error = error; process.stdout.write(JSON.stringify(result)); s.close(); process.exit(0); };
const timer = setTimeout(() => done('timeout'), timeoutMs);
s.on('error', (e) => { clearTimeout(timer); done(e.message); });
s.on('message', (b) => {
  const m = parse(b); if (m === undefined) return;
  const type = m.options[53]?.[0]; result.received.push(type);
  if (type === 2 && result.offered === undefined) {
    result.offered = m.yiaddr; result.server = ip(m.options[54]);
    const req = [50, 4, ...m.yiaddr.split('.').map(Number), 54, 4, ...result.server.split('.').map(Number)];
    s.send(message(3, req), 67, '255.255.255.255');
  } else if (type === 5) {
    result.acked = true; result.router = ip(m.options[3]); result.mtu = m.options[26]?.readUInt16BE(0);
    clearTimeout(timer); done();
  } else if (type === 6) { clearTimeout(timer); done('NAK'); }
});
s.bind(68, '0.0.0.0', () => { s.setBroadcast(true); s.send(message(1, []), 67, '255.255.255.255'); });
`;

/**
 * One DHCP exchange (DISCOVER, OFFER, REQUEST, ACK) from the instance's MAC, broadcast on its eth0
 * (the instance keeps its static address; dnsmasq answers by MAC from its hostsfile).
 */
export async function dhcpRequest(from: TrafficSource, timeoutMs = 8_000): Promise<DhcpResult> {
  const result = await exec(from.netns, [process.execPath, '-e', DHCP_CLIENT, from.mac, String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  return JSON.parse(result.stdout) as DhcpResult;
}

export interface ArpingResult {
  sent: number;
  /** Sender MACs of the replies, one per reply. */
  replies: string[];
}

// Runs as `python3 -c` in the instance namespace: argv = [device, src mac, src ip, target ip, count, wait s].
const ARPING = String.raw`
import json, socket, struct, sys, time
dev, smac, sip, tip, count, wait = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
mac = bytes(int(h, 16) for h in smac.split(':'))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((dev, 0x0806))
frame = b'\xff' * 6 + mac + struct.pack('!HHHBBH', 0x0806, 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(sip) + b'\x00' * 6 + socket.inet_aton(tip)
replies = []
for _ in range(count):
    s.send(frame)
    deadline = time.time() + wait
    while True:
        left = deadline - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(2048)
        except socket.timeout:
            break
        if len(data) >= 42 and data[12:14] == b'\x08\x06' and struct.unpack('!H', data[20:22])[0] == 2 and data[28:32] == socket.inet_aton(tip):
            replies.append(':'.join('%02x' % b for b in data[22:28]))
            break
print(json.dumps({'sent': count, 'replies': replies}))
`;

/** Sends `count` ARP requests for `ip` from the instance's eth0 and collects the replies (needs python3). */
export async function arping(from: TrafficSource, ip: string, count = 3, waitS = 1): Promise<ArpingResult> {
  const python = findCommand('python3');
  if (python === undefined) throw new Error('arping needs python3 (no arping binary on this machine): apt-get install python3 or iputils-arping');
  const result = await exec(from.netns, [python, '-c', ARPING, from.devices?.eth0 ?? 'eth0', from.mac, from.ip, ip, String(count), String(waitS)], {
    timeoutMs: (count * waitS + 10) * 1000,
  });
  return JSON.parse(result.stdout) as ArpingResult;
}
