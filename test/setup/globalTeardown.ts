import { rmSync } from 'node:fs';
import type { RunningPostgres } from '../../src/db/embeddedPostgres';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>).__satmachine as
    { pg: RunningPostgres; temporal: { stop: () => Promise<void> } } | undefined;
  if (!state) return;
  await state.temporal.stop().catch(() => undefined);
  await state.pg.stop().catch(() => undefined);
  if (process.env.SATMACHINE_TEST_DIR)
    rmSync(process.env.SATMACHINE_TEST_DIR, { recursive: true, force: true });
}
