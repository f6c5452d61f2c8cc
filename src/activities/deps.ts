import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import type { PaymentBackend } from '../payments/backend';
import type { SecretBox } from '../security/secretBox';

/** What the activities need from the outside world; built once per worker. */
export interface ActivityDeps {
  pool: Pool;
  payments: PaymentBackend;
  secretBox: SecretBox;
  logger: Logger;
  /**
   * Legs the backend pays in the database (the ledger) run as local activities
   * (default true; LOCAL_LEG_PAYMENTS=0 turns it off): see ./legExecution.
   */
  localLegPayments?: boolean;
}
