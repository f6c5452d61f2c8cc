import { finalizeEvent, getPublicKey } from 'nostr-tools/pure';
import * as nip44 from 'nostr-tools/nip44';
import { hexToBytes } from 'nostr-tools/utils';
import type { SignedEvent } from '../contract';
import { KIND_SETTLEMENT } from '../contract';
import { parseSettlementContent, type SettlementEventContent } from '../domain/settlementEvent';
import { eventIdHash, eventSignatureValid, wellFormed } from './eventSignature';

/**
 * The Nostr side of the machine protocol (docs/protocol.md): signature checks,
 * NIP-44 v2 encryption between a machine and its operator, event construction.
 * Pure computation; shared by the ingest, the activities and the simulator.
 */

/**
 * A small insertion-ordered cache: the oldest entry goes when `limit` is passed. Keeps
 * the results of the two costly curve operations a worker repeats for the same inputs.
 */
class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    if (this.map.size >= this.limit) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}

/**
 * Signatures already verified in this process, by event id and signature. An event is
 * verified by the attribution and again when its record re-opens it: the second check
 * recomputes the id from the event's fields (a cheap hash, so a changed field is still
 * caught) and skips the Schnorr verification (~1 ms) only for an id + signature pair
 * that verified before. Only successes are kept.
 */
const verifiedSignatures = new BoundedCache<true>(8192);

export function verifySignature(event: SignedEvent): boolean {
  try {
    if (!wellFormed(event)) return false;
    if (eventIdHash(event) !== event.id) return false;
    const key = `${event.id}:${event.sig}`;
    if (verifiedSignatures.get(key)) return true;
    const ok = eventSignatureValid(event);
    if (ok) verifiedSignatures.set(key, true);
    return ok;
  } catch {
    return false;
  }
}

export function pTags(event: SignedEvent): string[] {
  return event.tags.filter((t) => t[0] === 'p' && typeof t[1] === 'string').map((t) => t[1]!);
}

export function dTag(event: SignedEvent): string | undefined {
  return event.tags.find((t) => t[0] === 'd')?.[1];
}

/**
 * NIP-44 conversation keys by (secret key, peer public key): an ECDH multiplication
 * (~2 ms with its precomputation) that is the same for every event between one machine
 * and its operator. Kept in this process's memory only, like the secret itself.
 */
const conversationKeys = new BoundedCache<Uint8Array>(4096);

function conversationKey(secretHex: string, peerPubkeyHex: string): Uint8Array {
  const cacheKey = `${secretHex}:${peerPubkeyHex}`;
  let key = conversationKeys.get(cacheKey);
  if (!key) {
    key = nip44.getConversationKey(hexToBytes(secretHex), peerPubkeyHex);
    conversationKeys.set(cacheKey, key);
  }
  return key;
}

export function encryptFor(senderSecretHex: string, recipientPubkeyHex: string, plaintext: string): string {
  return nip44.encrypt(plaintext, conversationKey(senderSecretHex, recipientPubkeyHex));
}

export function decryptFrom(recipientSecretHex: string, senderPubkeyHex: string, payload: string): string {
  return nip44.decrypt(payload, conversationKey(recipientSecretHex, senderPubkeyHex));
}

export function pubkeyOf(secretHex: string): string {
  return getPublicKey(hexToBytes(secretHex));
}

export function signEvent(
  secretHex: string,
  template: { kind: number; tags: string[][]; content: string; created_at?: number },
): SignedEvent {
  const e = finalizeEvent(
    {
      kind: template.kind,
      tags: template.tags,
      content: template.content,
      created_at: template.created_at ?? Math.floor(Date.now() / 1000),
    },
    hexToBytes(secretHex),
  );
  return {
    id: e.id,
    pubkey: e.pubkey,
    created_at: e.created_at,
    kind: e.kind,
    tags: e.tags,
    content: e.content,
    sig: e.sig,
  };
}

/** A machine's kind-21000 settlement event, encrypted to its operator. */
export function buildSettlementEvent(
  machineSecretHex: string,
  operatorPubkeyHex: string,
  content: Record<string, unknown>,
  createdAt?: number,
): SignedEvent {
  return signEvent(machineSecretHex, {
    kind: KIND_SETTLEMENT,
    tags: [['p', operatorPubkeyHex]],
    content: encryptFor(machineSecretHex, operatorPubkeyHex, JSON.stringify(content)),
    created_at: createdAt,
  });
}

export type DecodeResult = { ok: true; content: SettlementEventContent } | { ok: false; reason: string };

/** Decrypts (as the operator) and validates a kind-21000 event's content. */
export function decodeSettlementEvent(event: SignedEvent, operatorSecretHex: string): DecodeResult {
  let text: string;
  try {
    text = decryptFrom(operatorSecretHex, event.pubkey, event.content);
  } catch {
    return {
      ok: false,
      reason: 'content does not decrypt with the operator key (not NIP-44 v2 to this operator)',
    };
  }
  return parseSettlementContent(text);
}
