// One prom-client Registry for the process. Pure modules return counts; the stage that runs them
// increments these. Names: hoptrace_<module>_<what>_<unit>, counters end in _total, labels bounded.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  // Hot loops keep plain counters; these hooks copy them into the metrics when they are scraped.
  const beforeScrape: (() => void)[] = [];
  const sync = (): void => { for (const hook of beforeScrape) hook(); };
  const kernelDropsSource: { read: (() => Promise<number | undefined>) | undefined } = { read: undefined };
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'hoptrace_process_' });
  const m = {
    registry,
    beforeScrape,
    kernelDropsSource,
    kernelDrops: new Gauge({
      name: 'hoptrace_collector_socket_kernel_drops',
      help: 'datagrams the kernel dropped on the sFlow socket (receive buffer full), from /proc/net/udp',
      registers: [registry],
      async collect() {
        const drops = await kernelDropsSource.read?.();
        if (drops !== undefined) this.set(drops);
      },
    }),
    datagramsReceived: new Counter({
      name: 'hoptrace_collector_datagrams_received_total',
      help: 'sFlow datagrams read from the UDP socket',
      labelNames: ['exporter'] as const,
      registers: [registry],
      collect: sync,
    }),
    datagramsDropped: new Counter({
      name: 'hoptrace_datagrams_dropped_total',
      help: 'datagrams dropped before decoding (queue-full: the decoder could not keep up; too-large; closed)',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect: sync,
    }),
    bytesReceived: new Counter({
      name: 'hoptrace_collector_bytes_received_total',
      help: 'UDP payload bytes received',
      registers: [registry],
      collect: sync,
    }),
    queueDepth: new Gauge({
      name: 'hoptrace_bus_queue_depth',
      help: 'messages waiting in the in-process bus',
      labelNames: ['topic'] as const,
      registers: [registry],
      collect: sync,
    }),
    datagramsDecoded: new Counter({
      name: 'hoptrace_sflow_datagrams_decoded_total',
      help: 'datagrams decoded (possibly with issues)',
      registers: [registry],
    }),
    samplesDecoded: new Counter({
      name: 'hoptrace_sflow_samples_decoded_total',
      help: 'samples decoded, by kind (flow, counter, discard, unknown)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    recordsSkipped: new Counter({
      name: 'hoptrace_sflow_records_skipped_total',
      help: 'records skipped: unknown format, or malformed (kept raw)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    quarantined: new Counter({
      name: 'hoptrace_quarantine_rows_total',
      help: 'datagrams copied to the quarantine table, by error code',
      labelNames: ['source', 'code'] as const,
      registers: [registry],
    }),
    rowsInserted: new Counter({
      name: 'hoptrace_store_rows_inserted_total',
      help: 'rows written to the store, by table',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    insertSeconds: new Histogram({
      name: 'hoptrace_store_insert_seconds',
      help: 'time to write one batch to the store',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    insertFailures: new Counter({
      name: 'hoptrace_store_insert_failures_total',
      help: 'store batches that failed (retried when retriable)',
      labelNames: ['retriable'] as const,
      registers: [registry],
    }),
    pathObservations: new Counter({
      name: 'hoptrace_paths_observations_total',
      help: 'flow and discard samples the path stage took, by outcome (accepted; dropped as late, overflow, duplicate, unkeyed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    pathsAnalyzed: new Counter({
      name: 'hoptrace_paths_analyzed_total',
      help: 'paths the path stage judged, by verdict',
      labelNames: ['verdict'] as const,
      registers: [registry],
    }),
    pathsLost: new Counter({
      name: 'hoptrace_paths_not_stored_total',
      help: 'analysed paths given up on (store down longer than the outbox holds)',
      registers: [registry],
    }),
    pathOpenGroups: new Gauge({
      name: 'hoptrace_paths_open_groups',
      help: 'frame/flow groups the path stage holds open (correlation window)',
      registers: [registry],
      collect: sync,
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
