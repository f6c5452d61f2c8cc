import {
  D_BEACON,
  D_CASSETTES_STATE_PREFIX,
  D_TELEMETRY,
  KIND_APP_DATA,
  KIND_TELEMETRY,
  type SignedEvent,
} from '../contract';
import { applyBootstrapState } from '../db/cassettes';
import type { Pool } from '../db/pool';
import { withTransaction } from '../db/pool';
import { upsertBeacon, upsertFleetSnapshot } from '../db/telemetry';
import { beaconSchema, beaconText, cassettePositionsSchema } from '../domain/machineEvents';
import { normalizePubkey } from '../domain/nostrKeys';
import type { Logger } from '../logger';
import { decryptFrom, dTag, pTags, verifySignature } from '../nostr/codec';
import type { HandleOutcome, IngestStream } from './ingestService';
import type { KeyDirectory } from './keyDirectory';

/**
 * What machines say about themselves (SPEC §3), routed by author: beacons (30078
 * bitspire-beacon, plaintext), fleet telemetry (30079, encrypted to the operator)
 * and the cassette bootstrap state (30078 bitspire-cassettes-state:<npub>,
 * encrypted). For these replaceable events the newest created_at wins.
 */
export function createMachineStream(deps: { keys: KeyDirectory; pool: Pool; logger: Logger }): IngestStream {
  const drop = (reason: string, detail: string): HandleOutcome => ({ kind: 'drop', reason, detail });

  const decrypt = (event: SignedEvent, operatorId: string): string | null => {
    const operator = [...deps.keys.operators.values()].find((o) => o.id === operatorId);
    if (!operator || !pTags(event).includes(operator.pubkey)) return null;
    try {
      return decryptFrom(operator.secretHex, event.pubkey, event.content);
    } catch {
      return null;
    }
  };

  return {
    name: 'machines',
    live() {
      const authors = [...deps.keys.machines.keys()];
      return authors.length ? [{ kinds: [KIND_APP_DATA, KIND_TELEMETRY], authors }] : null;
    },
    async handle(event: SignedEvent): Promise<HandleOutcome> {
      if (!verifySignature(event)) return drop('bad_signature', 'signature or id does not verify');
      const machine = deps.keys.machines.get(event.pubkey);
      if (!machine)
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
        const text = decrypt(event, machine.operator_user_id);
        if (text === null)
          return drop('undecryptable', 'telemetry is not NIP-44 encrypted to the machine operator');
        const applied = await upsertFleetSnapshot(deps.pool, machine.id, event.id, at, text);
        return { kind: 'ok', detail: applied ? 'telemetry stored' : 'stale telemetry ignored' };
      }

      if (event.kind === KIND_APP_DATA && d.startsWith(D_CASSETTES_STATE_PREFIX)) {
        let target: string;
        try {
          target = normalizePubkey(d.slice(D_CASSETTES_STATE_PREFIX.length));
        } catch {
          return drop('invalid_content', `d tag ${d.slice(0, 80)} does not name a machine`);
        }
        if (target !== machine.machine_pubkey_hex)
          return drop('wrong_machine', 'cassette state names another machine than its author');
        const text = decrypt(event, machine.operator_user_id);
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
        const applied = await withTransaction(deps.pool, (c) =>
          applyBootstrapState(c, machine.id, event.id, at, parsed.data.positions),
        );
        return {
          kind: 'ok',
          detail: applied ? 'cassette state applied' : 'cassette state already applied or older',
        };
      }

      return drop('unknown_kind', `kind ${event.kind} with d=${d.slice(0, 60)} is not part of the protocol`);
    },
  };
}
