import { listActiveMachines, type MachineRow } from '../db/machines';
import type { Pool } from '../db/pool';
import { listOperatorKeys } from '../db/users';
import type { Logger } from '../logger';
import { sealedColumns, type SecretBox } from '../security/secretBox';

export interface OperatorKey {
  id: string;
  pubkey: string;
  secretHex: string;
}

/**
 * Who we listen for: the operators whose keys we hold (kind 21000 `#p`) and the
 * active machines (`authors`). Reloaded every few seconds so a new operator or
 * machine is picked up quickly; `onChange` fires when either set changes.
 */
export class KeyDirectory {
  operators = new Map<string, OperatorKey>();
  machines = new Map<string, MachineRow>();
  private timer: NodeJS.Timeout | null = null;
  private signature = '';

  constructor(
    private readonly pool: Pool,
    private readonly secretBox: SecretBox,
    private readonly log: Logger,
    private readonly onChange: () => void,
    private readonly refreshMs = 5000,
  ) {}

  async refresh(): Promise<void> {
    const [ops, machines] = await Promise.all([listOperatorKeys(this.pool), listActiveMachines(this.pool)]);
    const operators = new Map<string, OperatorKey>();
    for (const o of ops) {
      try {
        operators.set(o.nostr_pubkey, {
          id: o.id,
          pubkey: o.nostr_pubkey,
          secretHex: this.secretBox.open(o.nostr_secret_enc, sealedColumns.operatorNostrSecret(o.id)),
        });
      } catch (err) {
        this.log.error(
          { operator: o.id, err: (err as Error).message },
          'cannot open an operator key; its events are not ingested',
        );
      }
    }
    this.operators = operators;
    this.machines = new Map(machines.map((m) => [m.machine_pubkey_hex, m]));
    const signature =
      [...operators.keys()].sort().join(',') + '|' + [...this.machines.keys()].sort().join(',');
    if (signature !== this.signature) {
      this.signature = signature;
      this.log.info({ operators: operators.size, machines: this.machines.size }, 'listening for these keys');
      this.onChange();
    }
  }

  start(): void {
    const tick = () => {
      this.refresh()
        .catch((err) =>
          this.log.warn({ err: (err as Error).message }, 'key refresh failed; keeping the last keys'),
        )
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.refreshMs);
        });
    };
    this.timer = setTimeout(tick, this.refreshMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
