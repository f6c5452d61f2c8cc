import type { SignedEvent } from '../contract';
import type { SettlementEventContent } from '../domain/settlementEvent';
import { decodeSettlementEvent, pTags, verifySignature } from './codec';

/**
 * Opening a kind-21000 settlement event: verify its signature, find the machine
 * registration it is for (docs/protocol.md §2.1), decrypt it as that registration's
 * operator and parse its content. The one path for the ingest (which forwards only
 * events that open) and the attribution activities (which open the event again, in
 * the worker: the workflow carries only the signed event with its ciphertext, never
 * the plaintext). Where registrations and operator keys come from is the caller's:
 * the ingest's in-memory key directory, or the database for one machine.
 */

/** A registration of a machine key (a `dca_machines` row, or the part of it routing needs). */
export interface KeyRegistration {
  id: string;
  operator_user_id: string;
  key_state: string;
}

/** An operator whose Nostr key we know; its secret is opened only when an event is decrypted. */
export interface OperatorKeyRef {
  id: string;
  /** the operator's Nostr secret (hex), or null when no key is held for it */
  secretHex(): string | null;
}

/**
 * Where registrations and operators come from. `O` is what the caller knows of an
 * operator: routing reads only its id (the ingest's key directory holds the opened
 * key itself; opening an event needs an {@link OperatorKeyRef}).
 */
export interface SettlementEventKeys<M extends KeyRegistration, O extends { id: string } = OperatorKeyRef> {
  /** the registrations of this machine key that may receive its events (the active ones) */
  registrations(machinePubkeyHex: string): readonly M[];
  /** the operator whose Nostr public key this is, if it is one we know */
  operator(operatorPubkeyHex: string): O | null;
}

/** Why an event does not open; `detail` is for the log or the operator. */
export type OpenFailure =
  'bad_signature' | 'unknown_pubkey' | 'unproven_key' | 'not_for_us' | 'no_operator_key' | 'invalid_content';

export type Routed<M extends KeyRegistration, O extends { id: string } = OperatorKeyRef> =
  | { ok: true; machine: M; operator: O }
  | { ok: false; reason: 'unknown_pubkey' | 'unproven_key' | 'not_for_us'; detail: string };

export type OpenedSettlementEvent<M extends KeyRegistration> =
  | { ok: true; machine: M; operator: OperatorKeyRef; content: SettlementEventContent }
  | { ok: false; reason: OpenFailure; detail: string; machine: M | null };

/**
 * The registration an event signed by `pubkey` and p-tagged `tags` belongs to: the
 * registration of the key by an operator the event names (first p tag first), unless
 * that one is `unproven` (another operator's registration of the key was proven).
 */
export function routeSettlementEvent<M extends KeyRegistration, O extends { id: string }>(
  pubkey: string,
  tags: readonly string[],
  keys: SettlementEventKeys<M, O>,
): Routed<M, O> {
  const regs = keys.registrations(pubkey);
  if (regs.length === 0)
    return {
      ok: false,
      reason: 'unknown_pubkey',
      detail: `author ${pubkey.slice(0, 12)}… is not an active machine`,
    };
  let unproven = false;
  let ours = false;
  for (const p of tags) {
    const operator = keys.operator(p);
    if (!operator) continue;
    ours = true;
    const machine = regs.find((m) => m.operator_user_id === operator.id);
    if (!machine) continue;
    if (machine.key_state === 'unproven') {
      unproven = true;
      continue;
    }
    return { ok: true, machine, operator };
  }
  if (unproven)
    return {
      ok: false,
      reason: 'unproven_key',
      detail:
        "addressed to an operator whose registration of this key is unproven (another operator's registration was proven)",
    };
  if (!ours)
    return { ok: false, reason: 'not_for_us', detail: 'not addressed to an operator whose key we hold' };
  return {
    ok: false,
    reason: 'unknown_pubkey',
    detail: `author ${pubkey.slice(0, 12)}… is not an active machine of the operator the event is addressed to`,
  };
}

/**
 * Verify, find the machine, decrypt, parse. `verified`: the caller checked the
 * signature of this very object already (the attribution picks candidates by it).
 */
export function openSettlementEvent<M extends KeyRegistration>(
  event: SignedEvent,
  keys: SettlementEventKeys<M>,
  opts: { verified?: boolean } = {},
): OpenedSettlementEvent<M> {
  if (!opts.verified && !verifySignature(event))
    return { ok: false, reason: 'bad_signature', detail: 'signature or id does not verify', machine: null };
  const route = routeSettlementEvent(event.pubkey, pTags(event), keys);
  if (!route.ok) return { ...route, machine: null };
  const secret = route.operator.secretHex();
  if (!secret)
    return {
      ok: false,
      reason: 'no_operator_key',
      detail: `no Nostr key is held for operator ${route.operator.id}`,
      machine: route.machine,
    };
  const decoded = decodeSettlementEvent(event, secret);
  if (!decoded.ok)
    return { ok: false, reason: 'invalid_content', detail: decoded.reason, machine: route.machine };
  return { ok: true, machine: route.machine, operator: route.operator, content: decoded.content };
}
