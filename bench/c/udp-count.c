// udp-count: the C baseline of the receive stage. A recvmmsg loop that counts datagrams and bytes
// until COUNT datagrams arrived or IDLE_MS passed without one; prints JSON.
//   udp-count HOST PORT COUNT IDLE_MS RCVBUF
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64
#define MTU 65536

static double now(void) {
  struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: udp-count HOST PORT COUNT IDLE_MS RCVBUF\n"); return 2; }
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  int rcvbuf = atoi(argv[5]);
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
  inet_pton(AF_INET, argv[1], &at.sin_addr);
  if (bind(s, (struct sockaddr *)&at, sizeof at) != 0) { perror("bind"); return 1; }
  long want = atol(argv[3]);
  int idle_ms = atoi(argv[4]);
  struct timeval tv = { idle_ms / 1000, (idle_ms % 1000) * 1000 };
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  static char bufs[BATCH][MTU];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) { iov[i].iov_base = bufs[i]; iov[i].iov_len = MTU; msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1; }
  printf("ready\n"); fflush(stdout);
  long got = 0, bytes = 0; double first = 0, last = 0;
  while (got < want) {
    int n = recvmmsg(s, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n <= 0) break; // idle timeout
    if (got == 0) first = now();
    for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
    got += n; last = now();
  }
  printf("{\"received\":%ld,\"bytes\":%ld,\"seconds\":%.6f}\n", got, bytes, last - first);
  return 0;
}
