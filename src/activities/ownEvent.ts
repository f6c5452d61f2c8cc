import type { SignedEvent } from '../contract';
import type { SettlementEventContent } from '../domain/settlementEvent';
import type { MachineRow } from '../db/machines';
import { getUser } from '../db/users';
import { openSettlementEvent, type OperatorKeyRef } from '../nostr/settlementEvent';
import { sealedColumns } from '../security/secretBox';
import type { ActivityDeps } from './deps';

export type OwnEventOpening = { ok: true; content: SettlementEventContent } | { ok: false; reason: string };

/**
 * Opens a machine's own settlement event (the attribution check, and the recording that
 * re-opens it: the workflow carries only the signed, encrypted event and a summary).
 */
export function createOwnEventOpener(
  deps: ActivityDeps,
): (m: MachineRow, event: SignedEvent) => Promise<OwnEventOpening> {
  const { pool } = deps;
  /**
   * The machine's own event, opened by the one path the ingest uses too
   * (nostr/settlementEvent.ts), with this machine as the only registration and its
   * operator's key read once (its secret unsealed only to decrypt). Fails when the
   * registration is unproven, the event is not addressed to the machine's operator, no
   * key is held for that operator, or the content does not decrypt and parse.
   */
  return async function openOwnEvent(
    m: MachineRow,
    event: SignedEvent,
  ): Promise<{ ok: true; content: SettlementEventContent } | { ok: false; reason: string }> {
    if (m.key_state === 'unproven') {
      return {
        ok: false,
        reason:
          "this machine's key was proven by another operator's registration: the machine addresses another operator",
      };
    }
    const operator = await getUser(pool, m.operator_user_id);
    const ref: OperatorKeyRef | null = operator?.nostr_pubkey
      ? {
          id: operator.id,
          secretHex: () =>
            operator.nostr_secret_enc
              ? deps.secretBox.open(operator.nostr_secret_enc, sealedColumns.operatorNostrSecret(operator.id))
              : null,
        }
      : null;
    const opened = openSettlementEvent(
      event,
      {
        registrations: (pubkey) => (pubkey.toLowerCase() === m.machine_pubkey_hex ? [m] : []),
        operator: (pubkey) => (ref && pubkey === operator!.nostr_pubkey ? ref : null),
      },
      { verified: true },
    );
    if (opened.ok) return { ok: true, content: opened.content };
    switch (opened.reason) {
      case 'invalid_content':
        return { ok: false, reason: opened.detail };
      case 'no_operator_key':
        return { ok: false, reason: `no Nostr key is held for operator ${m.operator_user_id}` };
      default:
        return {
          ok: false,
          reason: `event is not addressed (p tag) to the machine's operator ${m.operator_user_id}`,
        };
    }
  };
}
