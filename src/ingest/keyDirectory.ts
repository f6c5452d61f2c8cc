import { listMachineRegistrations, type MachineRow } from '../db/machines';
import type { Pool } from '../db/pool';
import { listOperatorKeys } from '../db/users';
import type { Logger } from '../logger';
import { routeSettlementEvent } from '../nostr/settlementEvent';
import { sealedColumns, type SecretBox } from '../security/secretBox';

export interface OperatorKey {
  id: string;
  pubkey: string;
  secretHex: string;
}

/** Where an event of a machine key goes: one registration, or why none. */
export type Route =
  { ok: true; machine: MachineRow; operator: OperatorKey } | { ok: false; reason: string; detail: string };

/**
 * Who we listen for: the operators whose keys we hold (kind 21000 `#p`) and the
 * active machines (`authors`). Reloaded every few seconds so a new operator or
 * machine is picked up quickly; `onChange` fires when either set changes, or when a
 * registration's key state does (a proof re-subscribes, so the relay sends the
 * machine's stored beacon again and the proven registration gets it).
 *
 * A machine key may be registered by several operators (docs/protocol.md §2.1):
 * `route` picks the registration an event is addressed to (p tag). Inactive
 * registrations are loaded too: a change of any registration re-subscribes.
 */
export class KeyDirectory {
  operators = new Map<string, OperatorKey>();
  /** active registrations per machine key (hex) */
  machines = new Map<string, MachineRow[]>();
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
    const [ops, all] = await Promise.all([listOperatorKeys(this.pool), listMachineRegistrations(this.pool)]);
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
    const machines = new Map<string, MachineRow[]>();
    for (const m of all) {
      if (!m.is_active) continue;
      const list = machines.get(m.machine_pubkey_hex);
      if (list) list.push(m);
      else machines.set(m.machine_pubkey_hex, [m]);
    }
    this.machines = machines;
    const signature =
      [...operators.keys()].sort().join(',') +
      '|' +
      all
        .map((m) => `${m.machine_pubkey_hex}:${m.operator_user_id}:${m.is_active}:${m.key_state}`)
        .sort()
        .join(',');
    if (signature !== this.signature) {
      this.signature = signature;
      this.log.info({ operators: operators.size, machines: machines.size }, 'listening for these keys');
      this.onChange();
    }
  }

  /**
   * The registration an event signed by `pubkey` and p-tagged `pTags` belongs to: the
   * active registration of the key by an operator the event names, unless that one is
   * `unproven` (another operator's registration of the key was proven). The routing of
   * settlement events ({@link routeSettlementEvent}) over this directory's keys.
   */
  route(pubkey: string, pTags: readonly string[]): Route {
    return routeSettlementEvent(pubkey, pTags, {
      registrations: (machinePubkeyHex) => this.machines.get(machinePubkeyHex) ?? [],
      operator: (operatorPubkeyHex) => this.operators.get(operatorPubkeyHex) ?? null,
    });
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
