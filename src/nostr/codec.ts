import { finalizeEvent, getPublicKey, verifyEvent } from 'nostr-tools/pure';
import * as nip44 from 'nostr-tools/nip44';
import { hexToBytes } from 'nostr-tools/utils';
import type { SignedEvent } from '../contract';
import { KIND_SETTLEMENT } from '../contract';
import { parseSettlementContent, type SettlementEventContent } from '../domain/settlementEvent';

/**
 * The Nostr side of the machine protocol (docs/protocol.md): signature checks,
 * NIP-44 v2 encryption between a machine and its operator, event construction.
 * Pure computation; shared by the ingest, the activities and the simulator.
 */

export function verifySignature(event: SignedEvent): boolean {
  try {
    // verifyEvent caches its verdict on the object: verify a fresh copy
    return verifyEvent({ ...event, tags: event.tags.map((t) => [...t]) });
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

export function encryptFor(senderSecretHex: string, recipientPubkeyHex: string, plaintext: string): string {
  const key = nip44.getConversationKey(hexToBytes(senderSecretHex), recipientPubkeyHex);
  return nip44.encrypt(plaintext, key);
}

export function decryptFrom(recipientSecretHex: string, senderPubkeyHex: string, payload: string): string {
  const key = nip44.getConversationKey(hexToBytes(recipientSecretHex), senderPubkeyHex);
  return nip44.decrypt(payload, key);
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
