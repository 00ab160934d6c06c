# The native UDP receive loop (udp_rx.c): built by `node-gyp rebuild` in this directory, to
# build/Release/udp_rx.node. Linux only (recvmmsg, eventfd, SO_RCVBUFFORCE, SO_TIMESTAMPNS).
{
  "targets": [
    {
      "target_name": "udp_rx",
      "sources": ["udp_rx.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
