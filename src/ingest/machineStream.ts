import type { SignedEvent } from '../contract';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { dTag, verifySignature } from '../nostr/codec';
import type { KeyDirectory } from './keyDirectory';
import { MACHINE_EVENT_KINDS, machineEventKind } from './machineEventTable';
import { drop, type HandleOutcome, type IngestStream } from './stream';

/** machine keys per filter of the live machine subscription (see live()) */
export const LIVE_AUTHORS_PER_FILTER = 500;

/** the Nostr kinds of the machine events, in table order */
const MACHINE_KINDS = [...new Set(MACHINE_EVENT_KINDS.map((e) => e.kind))];

/**
 * What machines say about themselves (SPEC §3), subscribed by author: beacons (30078
 * bitspire-beacon, plaintext), fleet telemetry (30079, encrypted to the operator)
 * and the cassette bootstrap state (30078 bitspire-cassettes-state:<npub>,
 * encrypted). For these replaceable events the newest created_at wins. A key may be
 * registered by several operators: telemetry and bootstrap go to the registration of
 * the operator they are addressed to (p tag) and prove it; a beacon goes to the
 * proven registration, or the key's only one (docs/protocol.md §2.1).
 *
 * Each event is verified, its author checked to be an active machine, then handed to
 * the entry of src/ingest/machineEventTable.ts for its (kind, d tag).
 */
export function createMachineStream(deps: { keys: KeyDirectory; pool: Pool; logger: Logger }): IngestStream {
  return {
    name: 'machines',
    live() {
      const authors = [...deps.keys.machines.keys()];
      if (!authors.length) return null;
      // several filters of at most LIVE_AUTHORS_PER_FILTER keys: relays bound one filter's
      // authors (nostr-rs-relay answers nothing at all from 997 on); 10 filters (our relay's
      // RELAY_MAX_FILTERS) carry 5,000 machines in about 330 KB
      const filters = [];
      for (let i = 0; i < authors.length; i += LIVE_AUTHORS_PER_FILTER)
        filters.push({ kinds: MACHINE_KINDS, authors: authors.slice(i, i + LIVE_AUTHORS_PER_FILTER) });
      return filters;
    },
    async handle(event: SignedEvent): Promise<HandleOutcome> {
      if (!verifySignature(event)) return drop('bad_signature', 'signature or id does not verify');
      if (!deps.keys.machines.has(event.pubkey))
        return drop('unknown_pubkey', `author ${event.pubkey.slice(0, 12)}… is not an active machine`);
      const d = dTag(event) ?? '';
      const entry = machineEventKind(event.kind, d);
      if (!entry)
        return drop(
          'unknown_kind',
          `kind ${event.kind} with d=${d.slice(0, 60)} is not part of the protocol`,
        );
      return entry.handle(event, {
        pool: deps.pool,
        keys: deps.keys,
        d,
        at: new Date(event.created_at * 1000),
      });
    },
  };
}
