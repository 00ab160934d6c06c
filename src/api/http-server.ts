// The service's HTTP face: GET /health (JSON: is it up, is the store reachable, what is queued)
// and GET /metrics (Prometheus text). Everything else is 404/405; requests carry no body we read.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { HoptraceError } from '../errors.js';
import { splitHostPort } from '../collector/udp-receiver.js';

export interface HealthReport {
  status: 'ok' | 'degraded';
  [key: string]: unknown;
}

export interface HttpServerOptions {
  listen: string;
  registry: Registry;
  health: () => Promise<HealthReport>;
  /** Extra routes (GET path -> handler), for later surfaces (snapshots, web view). */
  routes?: Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    void handle(options, req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
      else res.destroy();
    });
  });
  server.requestTimeout = 60_000; // a 16 MiB host snapshot over a slow link
  server.headersTimeout = 5_000;
  const { host, port } = splitHostPort(options.listen);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void =>
      reject(new HoptraceError('bad-argument', `cannot listen for HTTP on ${options.listen}: ${error.code ?? error.message}${error.code === 'EADDRINUSE' ? ' (choose another with --http)' : ''}`, { cause: error }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    server,
    port: bound,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function handle(options: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const extra = options.routes?.get(path);
  if (req.method !== 'GET' && req.method !== 'HEAD' && extra === undefined) {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'application/json', JSON.stringify({ error: `method ${req.method ?? '?'} not allowed` }));
    return;
  }
  if (path === '/metrics') {
    send(res, 200, options.registry.contentType, await options.registry.metrics());
    return;
  }
  if (path === '/health' || path === '/healthz') {
    const report = await options.health();
    send(res, report.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(report, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    return;
  }
  if (extra !== undefined) {
    await extra(req, res);
    return;
  }
  send(res, 404, 'application/json', JSON.stringify({ error: `no such path: ${path}`, paths: ['/health', '/metrics', ...(options.routes?.keys() ?? [])] }));
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
