import type { Config } from '../../config';
import type { Logger } from '../../logger';
import { startRelay } from '../../relay/relayServer';
import { exitWithSupervisor, openPool, untilSignal } from '../runtime';

export async function relayCommand(config: Config, log: Logger): Promise<void> {
  exitWithSupervisor();
  const pool = openPool(config, 'satmachine-relay', 10);
  const { writePolicy, ...limits } = config.relay;
  const relay = await startRelay({
    pool,
    logger: log,
    host: config.relayHost,
    port: config.relayPort,
    limits,
    writePolicy,
  });
  await untilSignal();
  await relay.close();
  await pool.end();
}
