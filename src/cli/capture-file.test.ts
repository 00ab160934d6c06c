import { describe, expect, it } from 'vitest';
import { destinationPortsHint, fileErrorText } from './capture-file.js';

const errno = (code: string | undefined, message = 'raw message'): NodeJS.ErrnoException => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('fileErrorText', () => {
  it.each([
    { name: 'missing', error: errno('ENOENT'), text: 'no such file' },
    { name: 'a directory', error: errno('EISDIR'), text: 'is a directory, not a capture file' },
    { name: 'no read permission', error: errno('EACCES'), text: 'permission denied' },
    { name: 'not permitted', error: errno('EPERM'), text: 'permission denied' },
    { name: 'another errno', error: errno('EIO'), text: 'EIO' },
    { name: 'no errno', error: errno(undefined, 'something else'), text: 'something else' },
  ])('$name: $text', ({ error, text }) => {
    expect(fileErrorText(error)).toBe(text);
  });
});

describe('destinationPortsHint', () => {
  const packets = (ports: Record<number, number>): { dstPort: number }[] =>
    Object.entries(ports).flatMap(([port, n]) => Array.from({ length: n }, () => ({ dstPort: Number(port) })));

  it('names the ports, most datagrams first, then by number', () => {
    expect(destinationPortsHint(packets({ 53: 2, 34293: 151, 6344: 2, 9999: 1 }), ['a.pcap']))
      .toBe('its UDP destination ports: 34293 (151 datagrams), 53 (2 datagrams), 6344 (2 datagrams), 9999 (1 datagram)');
  });

  it('shows five and counts the rest; "their" for several files', () => {
    expect(destinationPortsHint(packets({ 1: 7, 2: 6, 3: 5, 4: 4, 5: 3, 6: 2, 7: 1 }), ['a.pcap', 'b.pcap']))
      .toBe('their UDP destination ports: 1 (7 datagrams), 2 (6 datagrams), 3 (5 datagrams), 4 (4 datagrams), 5 (3 datagrams), and 2 more ports');
  });

  it('is undefined when there is no UDP at all', () => {
    expect(destinationPortsHint([], ['a.pcap'])).toBeUndefined();
  });
});
