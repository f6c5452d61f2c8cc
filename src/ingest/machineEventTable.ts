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
import { withTransaction, type Pool } from '../db/pool';
import { upsertBeacon, upsertFleetSnapshot } from '../db/telemetry';
import { beaconSchema, beaconText, cassettePositionsSchema } from '../domain/machineEvents';
import { normalizePubkey } from '../domain/nostrKeys';
import { decryptFrom, pTags } from '../nostr/codec';
import type { KeyDirectory, OperatorKey, Route } from './keyDirectory';
import { drop, type HandleOutcome } from './stream';

/** What a machine-event handler gets: the verified event of an active machine, and the stream's tools. */
export interface MachineEventContext {
  pool: Pool;
  keys: KeyDirectory;
  /** the event's d tag ('' when it has none) */
  d: string;
  /** created_at as a Date */
  at: Date;
}

/**
 * One machine event kind of the protocol (SPEC §3): its Nostr kind and d tag (exact,
 * or a prefix followed by a value) and its handler. A new kind is one entry here, with
 * its schema (src/domain/machineEvents.ts) and its repository (src/db).
 */
export interface MachineEventKind {
  kind: number;
  d: { exact: string } | { prefix: string };
  handle(event: SignedEvent, ctx: MachineEventContext): Promise<HandleOutcome>;
}

const unproven = drop(
  'unproven_key',
  "another operator's registration of this machine key was proven first; nothing recorded",
);

/** Parses JSON text against a schema; the drop says what is wrong (`<what> is not JSON`, or its first issue as `<label>: <path>: <message>`). */
function parseContent<T>(
  what: string,
  label: string,
  text: string,
  schema: {
    safeParse(
      v: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
): { ok: true; value: T } | { ok: false; outcome: HandleOutcome } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, outcome: drop('invalid_content', `${what} is not JSON`) };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0]!;
  return {
    ok: false,
    outcome: drop('invalid_content', `${label}: ${issue.path.join('.')}: ${issue.message}`),
  };
}

/** Events addressed to an operator go to its registration of the key; the first one recorded proves it. */
function addressed(event: SignedEvent, keys: KeyDirectory): Route {
  const route = keys.route(event.pubkey, pTags(event));
  if (route.ok || route.reason === 'unproven_key') return route;
  if (!keys.machines.has(event.pubkey)) return route;
  return {
    ok: false,
    reason: 'undecryptable',
    detail: `${route.detail}: not addressed to the machine's operator`,
  };
}

/** The plaintext of an event encrypted to the operator (NIP-44), or null. */
function decrypt(event: SignedEvent, operator: OperatorKey): string | null {
  try {
    return decryptFrom(operator.secretHex, event.pubkey, event.content);
  } catch {
    return null;
  }
}

/** Beacon (30078 bitspire-beacon, plaintext): to the proven registration of its key, or its only one. */
const beacon: MachineEventKind = {
  kind: KIND_APP_DATA,
  d: { exact: D_BEACON },
  async handle(event, { pool, at }) {
    const parsed = parseContent('beacon content', 'beacon', event.content, beaconSchema);
    if (!parsed.ok) return parsed.outcome;
    const b = parsed.value;
    // a beacon names no operator: it proves nothing and goes to the proven registration,
    // or the key's only one (read from the database, not the directory's last reload)
    const machine = await getMachineByPubkey(pool, event.pubkey, null);
    if (!machine?.is_active)
      return drop(
        'unproven_key',
        'a beacon names no operator: it goes to the proven registration of its key, or its only one, and there is neither',
      );
    const applied = await upsertBeacon(pool, machine.id, event.id, at, {
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
  },
};

/** Fleet telemetry (30079 bitspire-telemetry, encrypted to the operator): stored as sent, newest wins. */
const telemetry: MachineEventKind = {
  kind: KIND_TELEMETRY,
  d: { exact: D_TELEMETRY },
  async handle(event, { pool, keys, at }) {
    const route = addressed(event, keys);
    if (!route.ok) return drop(route.reason, route.detail);
    const text = decrypt(event, route.operator);
    if (text === null)
      return drop('undecryptable', 'telemetry is not NIP-44 encrypted to the machine operator');
    const applied = await withTransaction(pool, async (c) => {
      if ((await proveMachineKey(c, route.machine.id)) !== 'proven') return null;
      return upsertFleetSnapshot(c, route.machine.id, event.id, at, text);
    });
    if (applied === null) return unproven;
    return { kind: 'ok', detail: applied ? 'telemetry stored' : 'stale telemetry ignored' };
  },
};

/** Cassette bootstrap state (30078 bitspire-cassettes-state:<npub>, encrypted): applied once. */
const cassetteState: MachineEventKind = {
  kind: KIND_APP_DATA,
  d: { prefix: D_CASSETTES_STATE_PREFIX },
  async handle(event, { pool, keys, d, at }) {
    let target: string;
    try {
      target = normalizePubkey(d.slice(D_CASSETTES_STATE_PREFIX.length));
    } catch {
      return drop('invalid_content', `d tag ${d.slice(0, 80)} does not name a machine`);
    }
    if (target !== event.pubkey)
      return drop('wrong_machine', 'cassette state names another machine than its author');
    const route = addressed(event, keys);
    if (!route.ok) return drop(route.reason, route.detail);
    const machine = route.machine;
    const text = decrypt(event, route.operator);
    if (text === null)
      return drop('undecryptable', 'cassette state is not NIP-44 encrypted to the machine operator');
    const parsed = parseContent('cassette state', 'cassette state', text, cassettePositionsSchema);
    if (!parsed.ok) return parsed.outcome;
    const applied = await withTransaction(pool, async (c) => {
      if ((await proveMachineKey(c, machine.id)) !== 'proven') return null;
      return applyBootstrapState(c, machine.id, event.id, at, parsed.value.positions);
    });
    if (applied === null) return unproven;
    return {
      kind: 'ok',
      detail: applied ? 'cassette state applied' : 'cassette state already applied or older',
    };
  },
};

/** Every machine event kind the ingest accepts, in the order they are matched. */
export const MACHINE_EVENT_KINDS: readonly MachineEventKind[] = [beacon, telemetry, cassetteState];

/** The entry for an event's (kind, d tag), or undefined (dropped `unknown_kind`). */
export function machineEventKind(kind: number, d: string): MachineEventKind | undefined {
  return MACHINE_EVENT_KINDS.find((e) => accepts(e, kind, d));
}

/** Whether an entry is the one for this (kind, d tag). */
export function accepts(entry: MachineEventKind, kind: number, d: string): boolean {
  return entry.kind === kind && ('exact' in entry.d ? d === entry.d.exact : d.startsWith(entry.d.prefix));
}
