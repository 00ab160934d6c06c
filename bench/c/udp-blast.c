// udp-blast: send the UDP payloads of a pcap to a loopback target with sendmmsg, at a target rate
// or as fast as possible, for a bounded count. The load generator of the ingest benchmarks.
//   udp-blast FILE.pcap HOST PORT COUNT RATE   (RATE 0 = as fast as possible)
// Only classic little/big-endian pcap with Ethernet + IPv4 + UDP, as the shipped corpus is.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_PKTS 200000
#define BATCH 64

static uint32_t rd32(const uint8_t *p, int swap) {
  uint32_t v; memcpy(&v, p, 4); return swap ? __builtin_bswap32(v) : v;
}

static double now(void) {
  struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: udp-blast FILE.pcap HOST PORT COUNT RATE\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  fseek(f, 0, SEEK_END); long size = ftell(f); fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(size);
  if (fread(buf, 1, size, f) != (size_t)size) { perror("read"); return 1; }
  fclose(f);
  uint32_t magic; memcpy(&magic, buf, 4);
  int swap = magic == 0xd4c3b2a1;
  if (magic != 0xa1b2c3d4 && !swap) { fprintf(stderr, "not a classic pcap\n"); return 1; }
  static struct iovec iov[MAX_PKTS];
  int n = 0;
  for (long off = 24; off + 16 <= size && n < MAX_PKTS;) {
    uint32_t incl = rd32(buf + off + 8, swap);
    const uint8_t *frame = buf + off + 16;
    off += 16 + incl;
    if (off > size || incl < 42) continue;
    if (frame[12] != 0x08 || frame[13] != 0x00) continue;       // IPv4 only
    const uint8_t *ip = frame + 14;
    int ihl = (ip[0] & 15) * 4;
    if (ip[9] != 17) continue;                                   // UDP only
    int total = (ip[2] << 8) | ip[3];
    int len = total - ihl - 8;
    if (len <= 0 || 14 + ihl + 8 + len > (int)incl) continue;
    iov[n].iov_base = (void *)(ip + ihl + 8);
    iov[n].iov_len = len;
    n++;
  }
  if (n == 0) { fprintf(stderr, "no UDP payloads\n"); return 1; }
  long count = atol(argv[4]);
  double rate = atof(argv[5]);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
  if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
  if (connect(s, (struct sockaddr *)&to, sizeof to) != 0) { perror("connect"); return 1; }
  int sndbuf = 8 << 20; setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  long sent = 0; int idx = 0;
  double start = now();
  while (sent < count) {
    int b = 0;
    for (; b < BATCH && sent + b < count; b++) {
      msgs[b].msg_hdr.msg_iov = &iov[idx];
      msgs[b].msg_hdr.msg_iovlen = 1;
      idx = (idx + 1) % n;
    }
    int done = sendmmsg(s, msgs, b, 0);
    if (done < 0) { if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED) continue; perror("sendmmsg"); return 1; }
    sent += done;
    if (rate > 0) {
      double due = start + sent / rate;
      double t;
      while ((t = now()) < due) { if (due - t > 0.0005) { struct timespec ts = {0, (long)((due - t) * 1e9 * 0.8)}; nanosleep(&ts, NULL); } }
    }
  }
  double secs = now() - start;
  printf("{\"sent\":%ld,\"seconds\":%.6f,\"rate\":%.0f}\n", sent, secs, sent / secs);
  return 0;
}
