// The native recvmmsg receiver (src/collector/native-receiver.ts and its addon), loaded only if it
// is there: the benchmarks must build and run without it, and say why it was left out.
import type { ReceiverOptions } from '../../src/collector/udp-receiver.js';
import type { Receiver } from '../../src/service/service.js';

export interface NativeReceiverModule {
  NativeUdpReceiver: {
    available(): { ok: true } | { ok: false; reason: string };
    new (options: ReceiverOptions): Receiver;
  };
}

/** The native receiver, if its module and addon are there (another engineer is finishing it). */
export async function loadNativeReceiver(): Promise<{ ok: true; module: NativeReceiverModule } | { ok: false; reason: string }> {
  // A computed specifier: the module may not exist yet, and the bench must compile without it.
  const specifier = new URL('../../src/collector/native-receiver.js', import.meta.url).href;
  let module: NativeReceiverModule;
  try {
    module = (await import(specifier)) as NativeReceiverModule;
  } catch (error) {
    return { ok: false, reason: `cannot load src/collector/native-receiver: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` };
  }
  const available = module.NativeUdpReceiver.available();
  return available.ok ? { ok: true, module } : { ok: false, reason: available.reason };
}

