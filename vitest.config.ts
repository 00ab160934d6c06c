import { defineConfig } from 'vitest/config';

// Two projects, as in STYLE.md: `unit` (beside the code, no services, seconds) and
// `integration` (test/integration: real Open vSwitch, chDB on disk, UDP sockets, child processes).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/support/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // OVS labs and chDB sessions are per-process resources: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
