import {
  D_BEACON,
  D_CASSETTES_STATE_PREFIX,
  D_TELEMETRY,
  KIND_APP_DATA,
  KIND_TELEMETRY,
  type SignedEvent,
} from '../contract';
import { applyBootstrapState } from '../db/cassettes';
import { getMachineByPubkey, proveMachineKey } from '../db/machines';
import type { Pool } from '../db/pool';
import { withTransaction } from '../db/pool';
import { upsertBeacon, upsertFleetSnapshot } from '../db/telemetry';
import { beaconSchema, beaconText, cassettePositionsSchema } from '../domain/machineEvents';
import { normalizePubkey } from '../domain/nostrKeys';
import type { Logger } from '../logger';
import { decryptFrom, dTag, pTags, verifySignature } from '../nostr/codec';
import type { HandleOutcome, IngestStream } from './ingestService';
import type { KeyDirectory, OperatorKey, Route } from './keyDirectory';

/** machine keys per filter of the live machine subscription (see live()) */
export const LIVE_AUTHORS_PER_FILTER = 500;

/**
 * What machines say about themselves (SPEC §3), subscribed by author: beacons (30078
 * bitspire-beacon, plaintext), fleet telemetry (30079, encrypted to the operator)
 * and the cassette bootstrap state (30078 bitspire-cassettes-state:<npub>,
 * encrypted). For these replaceable events the newest created_at wins. A key may be
 * registered by several operators: telemetry and bootstrap go to the registration of
 * the operator they are addressed to (p tag) and prove it; a beacon goes to the
 * proven registration, or the key's only one (docs/protocol.md §2.1).
 */
export function createMachineStream(deps: { keys: KeyDirectory; pool: Pool; logger: Logger }): IngestStream {
  const drop = (reason: string, detail: string): HandleOutcome => ({ kind: 'drop', reason, detail });

  const decrypt = (event: SignedEvent, operator: OperatorKey): string | null => {
    try {
      return decryptFrom(operator.secretHex, event.pubkey, event.content);
    } catch {
      return null;
    }
  };
  /** Events addressed to an operator go to its registration of the key; the first one recorded proves it. */
  const addressed = (event: SignedEvent): Route => {
    const route = deps.keys.route(event.pubkey, pTags(event));
    if (route.ok || route.reason === 'unproven_key') return route;
    if (!deps.keys.machines.has(event.pubkey)) return route;
    return {
      ok: false,
      reason: 'undecryptable',
      detail: `${route.detail}: not addressed to the machine's operator`,
    };
  };
  const unproven = drop(
    'unproven_key',
    "another operator's registration of this machine key was proven first; nothing recorded",
  );

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
        filters.push({
          kinds: [KIND_APP_DATA, KIND_TELEMETRY],
          authors: authors.slice(i, i + LIVE_AUTHORS_PER_FILTER),
        });
      return filters;
    },
    async handle(event: SignedEvent): Promise<HandleOutcome> {
      if (!verifySignature(event)) return drop('bad_signature', 'signature or id does not verify');
      if (!deps.keys.machines.has(event.pubkey))
        return drop('unknown_pubkey', `author ${event.pubkey.slice(0, 12)}… is not an active machine`);
      const d = dTag(event) ?? '';
      const at = new Date(event.created_at * 1000);

      if (event.kind === KIND_APP_DATA && d === D_BEACON) {
        let json: unknown;
        try {
          json = JSON.parse(event.content);
        } catch {
          return drop('invalid_content', 'beacon content is not JSON');
        }
        const parsed = beaconSchema.safeParse(json);
        if (!parsed.success)
          return drop(
            'invalid_content',
            `beacon: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`,
          );
        const b = parsed.data;
        // a beacon names no operator: it proves nothing and goes to the proven registration,
        // or the key's only one (read from the database, not the directory's last reload)
        const machine = await getMachineByPubkey(deps.pool, event.pubkey, null);
        if (!machine?.is_active)
          return drop(
            'unproven_key',
            'a beacon names no operator: it goes to the proven registration of its key, or its only one, and there is neither',
          );
        const applied = await upsertBeacon(deps.pool, machine.id, event.id, at, {
          cash_in: b.cash_in,
          cash_out: b.cash_out,
          cash_level: b.cash_level === undefined ? undefined : String(b.cash_level),
          fiat: b.fiat,
          model: b.model,
          name: b.name,
          location: b.location,
          geo: beaconText(b.geo),
          fees_json: beaconText(b.fees),
          limits_json: beaconText(b.limits),
          denominations_json: beaconText(b.denominations),
          version: b.version,
        });
        return { kind: 'ok', detail: applied ? 'beacon applied' : 'stale beacon ignored' };
      }

      if (event.kind === KIND_TELEMETRY && d === D_TELEMETRY) {
        const route = addressed(event);
        if (!route.ok) return drop(route.reason, route.detail);
        const text = decrypt(event, route.operator!);
        if (text === null)
          return drop('undecryptable', 'telemetry is not NIP-44 encrypted to the machine operator');
        const applied = await withTransaction(deps.pool, async (c) => {
          if ((await proveMachineKey(c, route.machine.id)) !== 'proven') return null;
          return upsertFleetSnapshot(c, route.machine.id, event.id, at, text);
        });
        if (applied === null) return unproven;
        return { kind: 'ok', detail: applied ? 'telemetry stored' : 'stale telemetry ignored' };
      }

      if (event.kind === KIND_APP_DATA && d.startsWith(D_CASSETTES_STATE_PREFIX)) {
        let target: string;
        try {
          target = normalizePubkey(d.slice(D_CASSETTES_STATE_PREFIX.length));
        } catch {
          return drop('invalid_content', `d tag ${d.slice(0, 80)} does not name a machine`);
        }
        if (target !== event.pubkey)
          return drop('wrong_machine', 'cassette state names another machine than its author');
        const route = addressed(event);
        if (!route.ok) return drop(route.reason, route.detail);
        const machine = route.machine;
        const text = decrypt(event, route.operator!);
        if (text === null)
          return drop('undecryptable', 'cassette state is not NIP-44 encrypted to the machine operator');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return drop('invalid_content', 'cassette state is not JSON');
        }
        const parsed = cassettePositionsSchema.safeParse(json);
        if (!parsed.success) {
          return drop(
            'invalid_content',
            `cassette state: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`,
          );
        }
        const applied = await withTransaction(deps.pool, async (c) => {
          if ((await proveMachineKey(c, machine.id)) !== 'proven') return null;
          return applyBootstrapState(c, machine.id, event.id, at, parsed.data.positions);
        });
        if (applied === null) return unproven;
        return {
          kind: 'ok',
          detail: applied ? 'cassette state applied' : 'cassette state already applied or older',
        };
      }

      return drop('unknown_kind', `kind ${event.kind} with d=${d.slice(0, 60)} is not part of the protocol`);
    },
  };
}
