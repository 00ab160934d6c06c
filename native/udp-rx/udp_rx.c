// udp_rx: the native sFlow receive loop. A thread of its own drains one UDP socket with recvmmsg
// and packs the datagrams, already in the envelope layout of src/collector/envelope.ts, into batch
// buffers that it hands to JavaScript through a threadsafe function in non-blocking mode. It never
// waits on JavaScript: when the handoff queue is full the batch is dropped and counted, and when
// every batch buffer is still in JavaScript's hands the datagram is read and dropped and counted.
//
// Batch layout (one Buffer per batch), for each datagram:
//   u32 little-endian  envelope length (28 + payload length)
//   u8  version (1)                     -- envelope.ts, byte 0
//   u8  address family (4 or 6)
//   u16 exporter port, big-endian
//   f64 received_at, ms since the epoch, big-endian (CLOCK_REALTIME; kernel arrival time by default)
//   u8[16] exporter address (IPv4 in the first 4 bytes, IPv4-mapped IPv6 as received on a v6 socket)
//   payload (the UDP payload, unchanged)
//
// JS API (wrapped by src/collector/native-receiver.ts):
//   open({ host, port, rcvbuf, batchDatagrams, batchMs, batchBytes, maxPendingBatches,
//          bufferPoolBytes, kernelTimestamps, threadNice, copy }, onBatch(buffer, count), onClosed())
//                 -> handle; throws an Error with code/errno/syscall (EADDRINUSE, EACCES...)
//   info(handle)  -> { address, family, port, receiveBuffer, receiveBufferForced, kernelTimestamps,
//                      threadNice }
//   stats(handle) -> { received, bytes, batches, droppedBatches, droppedDatagrams, droppedBytes,
//                      droppedNoBuffer, heldBuffers, heldLimit, copiedHeld, truncated, receiveErrors,
//                      allocations, lastErrno, threadCpuMs }
//   close(handle) -> stops and joins the thread, closes the socket; onClosed() runs once every
//                    batch already queued has reached onBatch.
//
// Memory: a batch at least half full reaches JS as an external Buffer over the batch buffer itself
// (no copy); the buffer returns to the pool when the GC collects that Buffer (every envelope sliced
// from it). Sparser batches are copied to an exact-size Buffer and their buffer reused at once.
// `copy: true` copies every batch (measured slower: the JS thread then faults in fresh memory).
//
// At most max_buffers - spare_target buffers are lent to JS that way (held_limit); past it batches
// are copied too, so the thread always has buffers that come back as soon as JS takes a batch. Without
// that limit an overload stalled the receiver for good: a full bus pinned every buffer (65,536
// envelopes = 256 batches of 256 = the whole 128 MiB pool), the thread then dropped every datagram
// for want of a buffer, so JS received nothing, allocated nothing, and V8 never ran the GC that
// would have given the buffers back once the bus had drained.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>

#define SLOTS 64                          // datagrams per recvmmsg call
#define SLOT_BYTES 65536                  // > the largest UDP payload (65507), so nothing is cut
#define ENVELOPE_HEADER 28                // src/collector/envelope.ts ENVELOPE_HEADER_BYTES
#define PREFIX 4                          // u32 length in front of each envelope
#define ENVELOPE_VERSION 1
#define MIN_BATCH_BYTES (PREFIX + ENVELOPE_HEADER + SLOT_BYTES)
#define NICE_UNCHANGED 100

typedef struct rx rx_t;

typedef struct batch {
  rx_t *owner;                            // its pool
  size_t mapped;                          // bytes of the mapping, this header included
  size_t used;
  size_t capacity;
  uint32_t count;
  uint64_t payload_bytes;
  uint8_t data[];
} batch_t;

struct rx {
  int fd;
  int stop_fd;                            // eventfd: wakes the thread's poll() on close
  int family;                             // AF_INET or AF_INET6
  int closed;                             // main thread only
  int thread_started;
  int hook_registered;
  int tearing_down;                       // env teardown: do not call into JS any more
  int refs;                               // JS handle + threadsafe function + external Buffers; main thread only
  pthread_t thread;
  napi_env env;
  napi_threadsafe_function tsfn;
  napi_ref on_closed;
  int copy;                               // always hand batches over as copies (else only sparse ones)
  int kernel_timestamps;
  uint32_t batch_datagrams;
  uint32_t batch_ms;
  size_t batch_bytes;
  int nice;                               // wanted niceness of the receive thread (NICE_UNCHANGED: leave it)
  int nice_set;                           // 1 set, -errno failed, 0 not tried (written by the thread)
  double thread_cpu_ms;                   // the thread's CPU time when it ended
  // Batch buffers. The receive thread only takes them from the pool: it never allocates, since an
  // mmap or a page fault can wait on the address-space lock while V8 remaps its heap (one mmap in
  // the thread took 20 ms here), and at 250 k datagrams/s the socket buffer overflows in 15 ms. The JS thread allocates them (populated in one call) to keep
  // spare_target spare, up to max_buffers in all; they come back when JS copied them or the GC
  // collected their Buffer, and are unmapped only when the receiver and every Buffer are gone.
  pthread_mutex_t pool_lock;
  batch_t **pool;                         // capacity max_buffers: every buffer fits back in
  uint32_t pool_size;
  uint32_t buffers;                       // allocated in all
  uint32_t max_buffers;
  uint32_t spare_target;                  // spare buffers the JS thread keeps: enough to fill the handoff queue
  int refill_requested;                   // the thread asked the JS thread for buffers
  uint32_t held;                          // buffers lent to JS as external Buffers, not yet collected (JS thread writes)
  uint32_t held_limit;                    // past it, batches are copied (see Memory above)
  int receive_buffer;                     // granted, as getsockopt reports it (twice the payload room)
  int receive_buffer_forced;
  // Counters: written by the receive thread, read by stats() on the main thread.
  uint64_t received, bytes, batches, dropped_batches, dropped_datagrams, dropped_bytes, truncated, receive_errors;
  uint64_t allocations;                   // batch buffers mapped
  uint64_t dropped_no_buffer;             // datagrams dropped because every buffer was in use
  uint64_t copied_held;                   // batches copied because held reached held_limit (JS thread)
  int last_errno;
  // recvmmsg state (receive thread only).
  uint8_t *slots;
  struct mmsghdr msgs[SLOTS];
  struct iovec iov[SLOTS];
  struct sockaddr_in6 names[SLOTS];
  union { char buf[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } control[SLOTS];
};

#define STAT_ADD(field, n) __atomic_fetch_add(&rx->field, (n), __ATOMIC_RELAXED)
#define STAT_GET(field) __atomic_load_n(&rx->field, __ATOMIC_RELAXED)

// ---------------------------------------------------------------- errors

// Throws an Error shaped like Node's system errors: code 'EADDRINUSE', errno -98, syscall 'bind'.
static void throw_errno(napi_env env, const char *syscall, int err, const char *what) {
  const char *name = strerrorname_np(err);
  char message[512];
  snprintf(message, sizeof message, "%s %s: %s (%s)", syscall, what, name ? name : "errno", strerror(err));
  napi_value msg, code, error, num, sys;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
}

#define NAPI_CALL(env, call)                                                     \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      const napi_extended_error_info *info_;                                     \
      napi_get_last_error_info((env), &info_);                                   \
      bool pending_;                                                             \
      napi_is_exception_pending((env), &pending_);                               \
      if (!pending_) napi_throw_error((env), "EINTERNAL",                        \
          info_->error_message ? info_->error_message : "N-API call failed");    \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

// ---------------------------------------------------------------- receive thread

static double realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put_f64_be(uint8_t *p, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  bits = __builtin_bswap64(bits);         // Linux targets here are little-endian (x86_64, aarch64)
  memcpy(p, &bits, 8);
}

static void put_u32_le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

// A buffer for a batch, mapped and populated at once: faulting it in page by page costs far more,
// most of all under virtualization (about 10 us a fault measured here, 80 faults a batch).
static batch_t *buffer_map(rx_t *rx) {
  size_t mapped = (sizeof(batch_t) + rx->batch_bytes + 4095) & ~(size_t)4095;
  void *p = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  batch_t *b = p;
  b->owner = rx;
  b->mapped = mapped;
  STAT_ADD(allocations, 1);
  return b;
}

// JS thread (and open): tops the pool up to `target` spare buffers, within max_buffers.
static void pool_refill(rx_t *rx, uint32_t target) {
  for (;;) {
    pthread_mutex_lock(&rx->pool_lock);
    int more = rx->pool_size < target && rx->buffers < rx->max_buffers;
    if (more) rx->buffers++;              // reserved before mapping, outside the lock
    pthread_mutex_unlock(&rx->pool_lock);
    if (!more) break;
    batch_t *b = buffer_map(rx);
    pthread_mutex_lock(&rx->pool_lock);
    if (b != NULL) rx->pool[rx->pool_size++] = b;
    else rx->buffers--;
    pthread_mutex_unlock(&rx->pool_lock);
    if (b == NULL) break;
  }
  __atomic_store_n(&rx->refill_requested, 0, __ATOMIC_RELEASE);
}

// Receive thread: an empty batch from the pool, or NULL when every buffer is in use (then the JS
// thread is asked for more, once, through the threadsafe function with no batch).
static batch_t *batch_new(rx_t *rx) {
  batch_t *b = NULL;
  pthread_mutex_lock(&rx->pool_lock);
  if (rx->pool_size > 0) b = rx->pool[--rx->pool_size];
  pthread_mutex_unlock(&rx->pool_lock);
  if (b == NULL) {
    if (!__atomic_exchange_n(&rx->refill_requested, 1, __ATOMIC_ACQ_REL)) {
      if (napi_call_threadsafe_function(rx->tsfn, NULL, napi_tsfn_nonblocking) != napi_ok) {
        // Queue full: the batches in it reach call_js, which refills anyway.
        __atomic_store_n(&rx->refill_requested, 0, __ATOMIC_RELEASE);
      }
    }
    return NULL;
  }
  b->used = 0;
  b->capacity = rx->batch_bytes;
  b->count = 0;
  b->payload_bytes = 0;
  return b;
}

// A batch nobody uses any more (copied, collected or dropped): back to the pool. Any thread.
static void batch_release(rx_t *rx, batch_t *b) {
  pthread_mutex_lock(&rx->pool_lock);
  rx->pool[rx->pool_size++] = b;
  pthread_mutex_unlock(&rx->pool_lock);
}

// Hands the batch to JS, or drops and counts it when JS has not taken the earlier ones yet.
static void flush(rx_t *rx, batch_t **slot) {
  batch_t *b = *slot;
  *slot = NULL;
  if (b == NULL) return;
  if (b->count == 0) { batch_release(rx, b); return; }
  uint32_t count = b->count;
  uint64_t payload = b->payload_bytes;
  napi_status status = napi_call_threadsafe_function(rx->tsfn, b, napi_tsfn_nonblocking);
  if (status == napi_ok) {
    STAT_ADD(batches, 1);
    return;
  }
  // napi_queue_full (JS is behind) or napi_closing (environment going away).
  batch_release(rx, b);
  STAT_ADD(dropped_batches, 1);
  STAT_ADD(dropped_datagrams, count);
  STAT_ADD(dropped_bytes, payload);
}

static double kernel_stamp(struct msghdr *h, double fallback) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
    }
  }
  return fallback;
}

static void *receive_loop(void *arg) {
  rx_t *rx = arg;
  batch_t *b = NULL;
  uint64_t deadline = 0;
  struct pollfd fds[2] = { { .fd = rx->fd, .events = POLLIN }, { .fd = rx->stop_fd, .events = POLLIN } };
  if (rx->nice != NICE_UNCHANGED) {
    // Niceness is per thread on Linux: only this one is raised (lowering it needs CAP_SYS_NICE).
    int set = setpriority(PRIO_PROCESS, (id_t)gettid(), rx->nice) == 0 ? 1 : -errno;
    __atomic_store_n(&rx->nice_set, set, __ATOMIC_RELAXED);
  }
  for (;;) {
    for (int i = 0; i < SLOTS; i++) {
      // recvmmsg updates these per call: reset what it shrinks.
      rx->msgs[i].msg_hdr.msg_namelen = sizeof rx->names[i];
      rx->msgs[i].msg_hdr.msg_controllen = rx->kernel_timestamps ? sizeof rx->control[i].buf : 0;
      rx->msgs[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(rx->fd, rx->msgs, SLOTS, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        STAT_ADD(receive_errors, 1);
        __atomic_store_n(&rx->last_errno, errno, __ATOMIC_RELAXED);
      }
      // Idle: hand over a partial batch when its time is up, then sleep until data, deadline or close.
      int timeout = -1;
      if (b != NULL && b->count > 0) {
        uint64_t now = monotonic_ms();
        if (now >= deadline) flush(rx, &b);
        else timeout = (int)(deadline - now);
      }
      int ready = poll(fds, 2, timeout);
      if (ready < 0 && errno != EINTR) {
        STAT_ADD(receive_errors, 1);
        __atomic_store_n(&rx->last_errno, errno, __ATOMIC_RELAXED);
        struct timespec pause = { 0, 1000000 };
        nanosleep(&pause, NULL);
      }
      if (ready > 0 && (fds[1].revents & POLLIN)) break;
      continue;
    }
    double stamp = realtime_ms();          // one clock read per call when kernel stamps are off
    uint64_t call_bytes = 0;               // counted once per call: fewer atomic operations
    for (int i = 0; i < n; i++) {
      struct msghdr *h = &rx->msgs[i].msg_hdr;
      uint32_t length = rx->msgs[i].msg_len;
      call_bytes += length;
      if (h->msg_flags & MSG_TRUNC) { STAT_ADD(truncated, 1); continue; }
      size_t need = PREFIX + ENVELOPE_HEADER + length;
      if (b != NULL && b->used + need > b->capacity) flush(rx, &b);
      if (b == NULL) {
        b = batch_new(rx);
        if (b == NULL) {
          STAT_ADD(dropped_no_buffer, 1);
          STAT_ADD(dropped_datagrams, 1);
          STAT_ADD(dropped_bytes, length);
          continue;
        }
        deadline = monotonic_ms() + rx->batch_ms;
      }
      uint8_t *p = b->data + b->used;
      put_u32_le(p, ENVELOPE_HEADER + length);
      uint8_t *e = p + PREFIX;
      e[0] = ENVELOPE_VERSION;
      memset(e + 12, 0, 16);
      if (rx->family == AF_INET) {
        const struct sockaddr_in *from = (const struct sockaddr_in *)&rx->names[i];
        e[1] = 4;
        memcpy(e + 2, &from->sin_port, 2);       // already big-endian
        memcpy(e + 12, &from->sin_addr, 4);
      } else {
        const struct sockaddr_in6 *from = &rx->names[i];
        e[1] = 6;
        memcpy(e + 2, &from->sin6_port, 2);
        memcpy(e + 12, &from->sin6_addr, 16);
      }
      put_f64_be(e + 4, rx->kernel_timestamps ? kernel_stamp(h, stamp) : stamp);
      memcpy(e + ENVELOPE_HEADER, rx->iov[i].iov_base, length);
      b->used += need;
      b->count++;
      b->payload_bytes += length;
      if (b->count >= rx->batch_datagrams) flush(rx, &b);
    }
    STAT_ADD(received, (uint64_t)n);
    STAT_ADD(bytes, call_bytes);
    if (b != NULL && b->count > 0 && monotonic_ms() >= deadline) flush(rx, &b);
  }
  flush(rx, &b);
  struct timespec cpu;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  rx->thread_cpu_ms = (double)cpu.tv_sec * 1000.0 + (double)cpu.tv_nsec / 1e6; // read after join
  return NULL;
}

// ---------------------------------------------------------------- lifetime

static void rx_unref(rx_t *rx) {
  if (--rx->refs > 0) return;
  for (uint32_t i = 0; i < rx->pool_size; i++) munmap(rx->pool[i], rx->pool[i]->mapped);
  free(rx->pool);
  pthread_mutex_destroy(&rx->pool_lock);
  munmap(rx->slots, (size_t)SLOTS * SLOT_BYTES);
  free(rx);
}

static void cleanup_hook(void *arg);

// Stops the thread, closes the socket and releases the threadsafe function (whose finalizer
// calls onClosed once the batches already queued are delivered). Idempotent; main thread only.
static void rx_close(rx_t *rx) {
  if (rx->closed) return;
  rx->closed = 1;
  if (rx->thread_started) {
    uint64_t one = 1;
    while (write(rx->stop_fd, &one, sizeof one) < 0 && errno == EINTR) {}
    pthread_join(rx->thread, NULL);
    rx->thread_started = 0;
  }
  if (rx->fd >= 0) close(rx->fd);
  if (rx->stop_fd >= 0) close(rx->stop_fd);
  rx->fd = rx->stop_fd = -1;
  if (rx->hook_registered) {
    rx->hook_registered = 0;
    if (!rx->tearing_down) napi_remove_env_cleanup_hook(rx->env, cleanup_hook, rx);
  }
  if (rx->tsfn != NULL) napi_release_threadsafe_function(rx->tsfn, napi_tsfn_release);
}

// The environment is going away (process exit, worker terminated) with the receiver still open.
// Registered after the threadsafe function, so it runs before that is torn down.
static void cleanup_hook(void *arg) {
  rx_t *rx = arg;
  rx->tearing_down = 1;
  rx->hook_registered = 0;
  rx_close(rx);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  rx_t *rx = data;
  rx_close(rx);                            // a handle collected without close(): stop anyway
  rx_unref(rx);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)data;
  rx_t *rx = hint;
  if (rx->on_closed != NULL) {
    if (!rx->tearing_down) {
      napi_value fn, global;
      if (napi_get_reference_value(env, rx->on_closed, &fn) == napi_ok && fn != NULL &&
          napi_get_global(env, &global) == napi_ok) {
        napi_call_function(env, global, fn, 0, NULL, NULL);
      }
    }
    napi_delete_reference(env, rx->on_closed);
    rx->on_closed = NULL;
  }
  rx->tsfn = NULL;
  rx_unref(rx);
}

// The GC collected the Buffer of a batch handed over whole: its memory goes back to the pool.
static void free_external(napi_env env, void *data, void *hint) {
  (void)data;
  batch_t *b = hint;
  rx_t *rx = b->owner;
  int64_t ignored;
  if (env != NULL && !rx->tearing_down) napi_adjust_external_memory(env, -(int64_t)b->mapped, &ignored);
  __atomic_sub_fetch(&rx->held, 1, __ATOMIC_RELAXED);
  batch_release(rx, b);
  rx_unref(rx);                            // the pool outlives the receiver while Buffers use it
}

// Runs on the JS thread for each batch. env is NULL when the function is torn down with batches
// still queued: then they are only released.
//
// A batch at least half full is handed over as it is (an external Buffer; the envelopes JS slices
// from it keep it alive until the last one is collected). A sparser one (a quiet exporter, a
// timer flush) is copied to a Buffer of its exact size, so that a few datagrams never pin a
// whole batch buffer while they wait in the bus.
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  rx_t *rx = context;
  batch_t *b = data;
  if (b == NULL) {                        // the thread ran out of buffers
    if (env != NULL && !rx->tearing_down && !rx->closed) pool_refill(rx, rx->spare_target);
    return;
  }
  if (env == NULL || js_cb == NULL || rx->tearing_down) { batch_release(rx, b); return; }
  if (!rx->closed) pool_refill(rx, rx->spare_target);
  napi_value buffer, count, undefined;
  uint32_t n = b->count;
  int held_full = __atomic_load_n(&rx->held, __ATOMIC_RELAXED) >= rx->held_limit;
  if (rx->copy || b->used < b->capacity / 2 || held_full) {
    if (held_full && !rx->copy && b->used >= b->capacity / 2) STAT_ADD(copied_held, 1);
    napi_status status = napi_create_buffer_copy(env, b->used, b->data, NULL, &buffer);
    batch_release(rx, b);
    if (status != napi_ok) return;
  } else {
    rx->refs++;
    __atomic_add_fetch(&rx->held, 1, __ATOMIC_RELAXED);
    if (napi_create_external_buffer(env, b->used, b->data, free_external, b, &buffer) != napi_ok) {
      rx->refs--;
      __atomic_sub_fetch(&rx->held, 1, __ATOMIC_RELAXED);
      batch_release(rx, b);
      return;
    }
    // Tell V8 what the Buffer holds, so that its GC (which gives the buffer back) keeps pace.
    int64_t ignored;
    napi_adjust_external_memory(env, (int64_t)b->mapped, &ignored);
  }
  napi_create_uint32(env, n, &count);
  napi_get_undefined(env, &undefined);
  napi_value argv[2] = { buffer, count };
  if (napi_call_function(env, undefined, js_cb, 2, argv, NULL) == napi_pending_exception) {
    // A throwing onBatch is a bug: report it as any uncaught exception would be, not as a warning.
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

// ---------------------------------------------------------------- JS functions

// An optional integer option in [min, max]; fallback when absent or undefined. 0 with a pending
// RangeError when it is something else.
static int get_int(napi_env env, napi_value obj, const char *key, double fallback, double min, double max, double *out) {
  napi_value v;
  napi_valuetype type;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
  napi_typeof(env, v, &type);
  if (type == napi_undefined) { *out = fallback; return 1; }
  double d;
  if (type != napi_number || napi_get_value_double(env, v, &d) != napi_ok || d != (double)(int64_t)d || d < min || d > max) {
    char message[160];
    snprintf(message, sizeof message, "option %s must be an integer from %.0f to %.0f", key, min, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return 0;
  }
  *out = d;
  return 1;
}

static int get_uint(napi_env env, napi_value obj, const char *key, uint32_t fallback, uint32_t min, uint32_t max, uint32_t *out) {
  double d;
  if (!get_int(env, obj, key, fallback, min, max, &d)) return 0;
  *out = (uint32_t)d;
  return 1;
}

static int get_bool(napi_env env, napi_value obj, const char *key, int fallback, int *out) {
  napi_value v;
  napi_valuetype type;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
  napi_typeof(env, v, &type);
  if (type == napi_undefined) { *out = fallback; return 1; }
  bool b;
  if (type != napi_boolean || napi_get_value_bool(env, v, &b) != napi_ok) {
    char message[120];
    snprintf(message, sizeof message, "option %s must be a boolean", key);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return 0;
  }
  *out = b;
  return 1;
}

static rx_t *get_rx(napi_env env, napi_value handle) {
  void *data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, handle, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, handle, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a udp_rx handle");
    return NULL;
  }
  return data;
}

// open({host, port, rcvbuf, batchDatagrams, batchMs, batchBytes, maxPendingBatches, copy,
//       kernelTimestamps}, onBatch, onClosed)
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t0, t1, t2;
  if (argc < 3 || napi_typeof(env, argv[0], &t0) != napi_ok || napi_typeof(env, argv[1], &t1) != napi_ok ||
      napi_typeof(env, argv[2], &t2) != napi_ok || t0 != napi_object || t1 != napi_function || t2 != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open(options, onBatch, onClosed)");
    return NULL;
  }
  napi_value options = argv[0];

  char host[INET6_ADDRSTRLEN + 1];
  napi_value host_value;
  napi_valuetype host_type;
  size_t host_length = 0;
  NAPI_CALL(env, napi_get_named_property(env, options, "host", &host_value));
  NAPI_CALL(env, napi_typeof(env, host_value, &host_type));
  if (host_type != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "option host must be an IP address string");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_string_utf8(env, host_value, host, sizeof host, &host_length));

  uint32_t port, rcvbuf, batch_datagrams, batch_ms, batch_bytes, max_pending;
  int copy, kernel_timestamps;
  if (!get_uint(env, options, "port", 0, 0, 65535, &port)) return NULL;
  if (!get_uint(env, options, "rcvbuf", 4u << 20, 0, 1u << 30, &rcvbuf)) return NULL;
  if (!get_uint(env, options, "batchDatagrams", 256, 1, 1u << 20, &batch_datagrams)) return NULL;
  if (!get_uint(env, options, "batchMs", 5, 1, 60000, &batch_ms)) return NULL;
  if (!get_uint(env, options, "batchBytes", 512u << 10, MIN_BATCH_BYTES, 1u << 30, &batch_bytes)) return NULL;
  if (!get_uint(env, options, "maxPendingBatches", 64, 1, 1u << 16, &max_pending)) return NULL;
  if (!get_bool(env, options, "copy", 0, &copy)) return NULL;
  if (!get_bool(env, options, "kernelTimestamps", 1, &kernel_timestamps)) return NULL;
  double nice_option;
  if (!get_int(env, options, "threadNice", NICE_UNCHANGED, -20, 19, &nice_option)) return NULL;
  uint32_t pool_bytes;
  if (!get_uint(env, options, "bufferPoolBytes", 128u << 20, 0, 4095u << 20, &pool_bytes)) return NULL;
  int nice = (int)nice_option;

  struct sockaddr_in6 bind6;
  struct sockaddr_in bind4;
  memset(&bind6, 0, sizeof bind6);
  memset(&bind4, 0, sizeof bind4);
  int family;
  if (inet_pton(AF_INET, host, &bind4.sin_addr) == 1) {
    family = AF_INET;
    bind4.sin_family = AF_INET;
    bind4.sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, host, &bind6.sin6_addr) == 1) {
    family = AF_INET6;
    bind6.sin6_family = AF_INET6;
    bind6.sin6_port = htons((uint16_t)port);
  } else {
    char message[200];
    snprintf(message, sizeof message, "option host must be an IPv4 or IPv6 address, not '%s'", host);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
    return NULL;
  }
  char where[INET6_ADDRSTRLEN + 16];
  snprintf(where, sizeof where, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);

  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { throw_errno(env, "socket", errno, where); return NULL; }
  // SO_RCVBUFFORCE (root or CAP_NET_ADMIN) honours the size above net.core.rmem_max; else the
  // kernel caps SO_RCVBUF at rmem_max and the caller warns with the granted size.
  int want = (int)rcvbuf, forced = 0;
  if (want > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0) forced = 1;
    else if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) != 0) {
      int err = errno; close(fd); throw_errno(env, "setsockopt SO_RCVBUF", err, where); return NULL;
    }
  }
  int granted = 0;
  socklen_t granted_length = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &granted_length);
  int on = 1;
  if (kernel_timestamps && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) kernel_timestamps = 0;
  int bound = family == AF_INET ? bind(fd, (struct sockaddr *)&bind4, sizeof bind4)
                                : bind(fd, (struct sockaddr *)&bind6, sizeof bind6);
  if (bound != 0) { int err = errno; close(fd); throw_errno(env, "bind", err, where); return NULL; }
  int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) { int err = errno; close(fd); throw_errno(env, "eventfd", err, where); return NULL; }

  rx_t *rx = calloc(1, sizeof *rx);
  // Populated now: a page fault in the receive thread can wait on the address-space lock behind V8
  // (which remaps and reprotects its heap and code all the time while it warms up), and at 250 k
  // datagrams/s a few milliseconds of waiting overflow the socket buffer.
  uint8_t *slots = mmap(NULL, (size_t)SLOTS * SLOT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (slots == MAP_FAILED) slots = NULL;
  uint32_t max_buffers = pool_bytes / batch_bytes < 2 ? 2 : pool_bytes / batch_bytes;
  batch_t **pool = calloc(max_buffers, sizeof *pool);
  if (rx == NULL || slots == NULL || pool == NULL) {
    free(rx); free(pool); close(fd); close(stop_fd);
    if (slots != NULL) munmap(slots, (size_t)SLOTS * SLOT_BYTES);
    throw_errno(env, "malloc", ENOMEM, where);
    return NULL;
  }
  rx->fd = fd;
  rx->stop_fd = stop_fd;
  rx->family = family;
  rx->env = env;
  rx->slots = slots;
  rx->copy = copy;
  rx->kernel_timestamps = kernel_timestamps;
  rx->batch_datagrams = batch_datagrams;
  rx->batch_ms = batch_ms;
  rx->batch_bytes = batch_bytes;
  rx->nice = nice;
  pthread_mutex_init(&rx->pool_lock, NULL);
  rx->max_buffers = max_buffers;
  rx->spare_target = max_pending + 4;
  // What is not lent to JS stays for the thread: a handoff queue's worth and a few (a small pool: half).
  rx->held_limit = max_buffers > rx->spare_target ? max_buffers - rx->spare_target : max_buffers / 2;
  rx->pool = pool;
  rx->receive_buffer = granted;
  rx->receive_buffer_forced = forced;
  for (int i = 0; i < SLOTS; i++) {
    rx->iov[i].iov_base = slots + (size_t)i * SLOT_BYTES;
    rx->iov[i].iov_len = SLOT_BYTES;
    rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
    rx->msgs[i].msg_hdr.msg_iovlen = 1;
    rx->msgs[i].msg_hdr.msg_name = &rx->names[i];
    rx->msgs[i].msg_hdr.msg_control = rx->control[i].buf;
  }

  napi_value name;
  napi_create_string_utf8(env, "udp_rx", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[2], 1, &rx->on_closed) != napi_ok ||
      napi_create_threadsafe_function(env, argv[1], NULL, name, max_pending, 1, NULL, tsfn_finalize, rx, call_js, &rx->tsfn) != napi_ok) {
    if (rx->on_closed != NULL) napi_delete_reference(env, rx->on_closed);
    close(fd); close(stop_fd); munmap(slots, (size_t)SLOTS * SLOT_BYTES); free(pool); free(rx);
    napi_throw_error(env, "EINTERNAL", "cannot create the threadsafe function");
    return NULL;
  }
  rx->refs = 2;                            // the handle and the threadsafe function
  napi_value handle;
  if (napi_create_external(env, rx, handle_finalize, NULL, &handle) != napi_ok) {
    rx->refs = 1;                          // only the threadsafe function; its finalizer frees rx
    rx->closed = 1;
    close(fd); close(stop_fd);
    napi_release_threadsafe_function(rx->tsfn, napi_tsfn_abort);
    napi_throw_error(env, "EINTERNAL", "cannot create the handle");
    return NULL;
  }
  if (napi_add_env_cleanup_hook(env, cleanup_hook, rx) == napi_ok) rx->hook_registered = 1;
  pool_refill(rx, rx->spare_target);       // mapped before any datagram needs one (see slots)
  int err = pthread_create(&rx->thread, NULL, receive_loop, rx);
  if (err != 0) {
    rx_close(rx);
    throw_errno(env, "pthread_create", err, where);
    return NULL;
  }
  rx->thread_started = 1;
  pthread_setname_np(rx->thread, "udp-rx");  // shows in top -H, perf and /proc/PID/task
  return handle;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "close(handle)"); return NULL; }
  rx_t *rx = get_rx(env, argv[0]);
  if (rx == NULL) return NULL;
  rx_close(rx);
  return NULL;
}

static void set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, obj, key, v);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "stats(handle)"); return NULL; }
  rx_t *rx = get_rx(env, argv[0]);
  if (rx == NULL) return NULL;
  napi_value out;
  NAPI_CALL(env, napi_create_object(env, &out));
  // Counts stay below 2^53 for centuries at line rate: doubles are exact.
  set_number(env, out, "received", (double)STAT_GET(received));
  set_number(env, out, "bytes", (double)STAT_GET(bytes));
  set_number(env, out, "batches", (double)STAT_GET(batches));
  set_number(env, out, "droppedBatches", (double)STAT_GET(dropped_batches));
  set_number(env, out, "droppedDatagrams", (double)STAT_GET(dropped_datagrams));
  set_number(env, out, "droppedBytes", (double)STAT_GET(dropped_bytes));
  set_number(env, out, "truncated", (double)STAT_GET(truncated));
  set_number(env, out, "receiveErrors", (double)STAT_GET(receive_errors));
  set_number(env, out, "allocations", (double)STAT_GET(allocations));
  set_number(env, out, "droppedNoBuffer", (double)STAT_GET(dropped_no_buffer));
  set_number(env, out, "heldBuffers", (double)__atomic_load_n(&rx->held, __ATOMIC_RELAXED));
  set_number(env, out, "heldLimit", (double)rx->held_limit);
  set_number(env, out, "copiedHeld", (double)STAT_GET(copied_held));
  set_number(env, out, "lastErrno", (double)__atomic_load_n(&rx->last_errno, __ATOMIC_RELAXED));
  double cpu_ms = rx->thread_cpu_ms;
  clockid_t clock;
  struct timespec ts;
  if (rx->thread_started && pthread_getcpuclockid(rx->thread, &clock) == 0 && clock_gettime(clock, &ts) == 0) {
    cpu_ms = (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
  }
  set_number(env, out, "threadCpuMs", cpu_ms);
  return out;
}

static napi_value js_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "info(handle)"); return NULL; }
  rx_t *rx = get_rx(env, argv[0]);
  if (rx == NULL) return NULL;
  if (rx->closed) { napi_throw_error(env, "ERR_SOCKET_CLOSED", "udp_rx handle is closed"); return NULL; }
  struct sockaddr_in6 at;
  socklen_t length = sizeof at;
  if (getsockname(rx->fd, (struct sockaddr *)&at, &length) != 0) { throw_errno(env, "getsockname", errno, "udp_rx"); return NULL; }
  char text[INET6_ADDRSTRLEN];
  unsigned port;
  if (at.sin6_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&at;
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else {
    inet_ntop(AF_INET6, &at.sin6_addr, text, sizeof text);
    port = ntohs(at.sin6_port);
  }
  napi_value out, address, family;
  NAPI_CALL(env, napi_create_object(env, &out));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_set_named_property(env, out, "address", address);
  napi_create_string_utf8(env, at.sin6_family == AF_INET ? "IPv4" : "IPv6", NAPI_AUTO_LENGTH, &family);
  napi_set_named_property(env, out, "family", family);
  set_number(env, out, "port", port);
  set_number(env, out, "receiveBuffer", rx->receive_buffer);
  napi_value forced;
  napi_get_boolean(env, rx->receive_buffer_forced, &forced);
  napi_set_named_property(env, out, "receiveBufferForced", forced);
  napi_value stamps;
  napi_get_boolean(env, rx->kernel_timestamps, &stamps);
  napi_set_named_property(env, out, "kernelTimestamps", stamps);
  // The niceness asked for, once the thread applied it; null when none was asked or it failed.
  napi_value nice;
  int nice_set = __atomic_load_n(&rx->nice_set, __ATOMIC_RELAXED);
  if (nice_set == 1) napi_create_int32(env, rx->nice, &nice);
  else napi_get_null(env, &nice);
  napi_set_named_property(env, out, "threadNice", nice);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "info", NULL, js_info, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
