import { KIND_SETTLEMENT, type SignedEvent } from '../contract';
import type { Logger } from '../logger';
import { openSettlementEvent } from '../nostr/settlementEvent';
import type { HandleOutcome, IngestStream } from './stream';
import type { KeyDirectory } from './keyDirectory';
import type { SettlementSignals } from './settlementSignals';

/** machine keys per catch-up filter (keeps one REQ far below common 128 KiB message limits) */
export const AUTHORS_PER_FILTER = 200;

/**
 * Kind 21000: ATM settlement events addressed (`#p`) to an operator we hold keys
 * for. Forwarded only when signed by a machine key that the addressed operator
 * registered (and whose registration is not `unproven`), decryptable and valid, so a
 * stranger cannot start workflows; everything else is dropped with a reason. Drops
 * after the author is known to be an active machine (not addressed to us, content
 * invalid) are `authentic`: they may move the catch-up cursor; a stranger's events and
 * `unproven_key` drops never do.
 */
export function createSettlementStream(deps: {
  keys: KeyDirectory;
  signals: SettlementSignals;
  logger: Logger;
}): IngestStream {
  const drop = (reason: string, detail: string, authentic = false): HandleOutcome => ({
    kind: 'drop',
    reason,
    detail,
    authentic,
  });
  return {
    name: 'settlements',
    live() {
      const operators = [...deps.keys.operators.keys()];
      return operators.length ? [{ kinds: [KIND_SETTLEMENT], '#p': operators, limit: 0 }] : null;
    },
    // only active machines' events: a stranger's flood cannot crowd them out of a page
    catchUp(since) {
      const operators = [...deps.keys.operators.keys()];
      const machines = [...deps.keys.machines.keys()];
      if (!operators.length || !machines.length) return null;
      const filters = [];
      for (let i = 0; i < machines.length; i += AUTHORS_PER_FILTER) {
        filters.push({
          kinds: [KIND_SETTLEMENT],
          '#p': operators,
          authors: machines.slice(i, i + AUTHORS_PER_FILTER),
          since,
        });
      }
      return filters;
    },
    async handle(event: SignedEvent, relay: string): Promise<HandleOutcome> {
      if (event.kind !== KIND_SETTLEMENT)
        return drop('unknown_kind', `kind ${event.kind} on the settlement stream`);
      // verified, routed by p tag to the addressing operator's registration of the signing
      // key, decrypted and parsed: the one path the attribution activities take again
      const keys = deps.keys;
      const opened = openSettlementEvent(event, {
        registrations: (pubkey) => keys.machines.get(pubkey) ?? [],
        operator: (pubkey) => {
          const operator = keys.operators.get(pubkey);
          return operator ? { id: operator.id, secretHex: () => operator.secretHex } : null;
        },
      });
      if (!opened.ok)
        return drop(
          opened.reason,
          opened.detail,
          opened.reason === 'not_for_us' || opened.reason === 'invalid_content',
        );
      // only the payment hash leaves here: the workflow gets the signed event, still encrypted
      const outcome = await deps.signals.atmEvent(
        opened.content.payment_hash,
        { event, relay },
        { machine_id: opened.machine.id, content: opened.content },
      );
      return { kind: 'ok', detail: outcome };
    },
  };
}
