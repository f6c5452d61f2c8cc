import { createHash } from 'node:crypto';
import { verifyEvent as verifyEventInJs } from 'nostr-tools/pure';
import type { SignedEvent } from '../contract';

/**
 * A Nostr event's id and BIP-340 signature, checked by one of two verifiers that give the
 * same verdicts:
 *
 * - **wasm**: libsecp256k1 compiled to WebAssembly (`nostr-wasm`, the companion nostr-tools
 *   names for it), ~0.3 ms a signature on this box; loaded once per process at start
 *   (`loadWasmSignatureVerifier`, src/cli/main.ts);
 * - **js**: nostr-tools' own (noble-curves), 1.5–4.5 ms a signature; used until the WASM
 *   verifier is loaded, and wherever it cannot be (jest's module loader cannot load an ES
 *   module, so unit tests run this one; test/integration/eventSignature.test.ts runs both
 *   over the same events in a real process).
 *
 * Every event the relay takes, the ingest reads and a settlement's attribution opens is
 * verified, so this is the CPU a stranger can make us spend: the faster verifier is also
 * the harder one to flood.
 *
 * The WASM verifier copies hex fields into fixed buffers without checking them (a short or
 * non-hex signature would be padded with the previous one's bytes, a short id compared by
 * its prefix only), so nothing reaches it that is not exactly 64 / 64 / 128 lowercase hex
 * characters: `wellFormed` below, checked first whichever verifier runs.
 */

interface WasmVerifier {
  verifyEvent(event: SignedEvent): void;
}

let wasm: WasmVerifier | null = null;
let loading: Promise<'wasm' | 'js'> | null = null;

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

/** The event's fields have the types and hex forms NIP-01 gives them (checked before any hash or signature). */
export function wellFormed(e: SignedEvent): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.id === 'string' &&
    HEX64.test(e.id) &&
    typeof e.pubkey === 'string' &&
    HEX64.test(e.pubkey) &&
    typeof e.sig === 'string' &&
    HEX128.test(e.sig) &&
    Number.isSafeInteger(e.kind) &&
    Number.isSafeInteger(e.created_at) &&
    typeof e.content === 'string' &&
    Array.isArray(e.tags) &&
    e.tags.every((t) => Array.isArray(t) && t.every((v) => typeof v === 'string'))
  );
}

/**
 * The id NIP-01 gives an event: sha256 of `[0, pubkey, created_at, kind, tags, content]` as
 * JSON, UTF-8, lowercase hex; what nostr-tools' `getEventHash` computes (its serialisation),
 * with Node's native sha256 instead of its JavaScript one (~1 ms a settlement in each of the
 * relay, ingest and worker). test/unit/eventIdHash.test.ts compares the two.
 */
export function eventIdHash(
  e: Pick<SignedEvent, 'pubkey' | 'created_at' | 'kind' | 'tags' | 'content'>,
): string {
  return createHash('sha256')
    .update(JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content]), 'utf8')
    .digest('hex');
}

/**
 * Loads the WASM verifier (once; later calls share the first). Resolves to the verifier
 * in use: 'js' when the module cannot be loaded here, which is never an error (the same
 * verdicts, slower).
 */
export function loadWasmSignatureVerifier(): Promise<'wasm' | 'js'> {
  loading ??= (async () => {
    try {
      // a specifier in a variable: TypeScript leaves the ES module's types (DOM-based) alone
      const specifier = 'nostr-wasm';
      const mod = (await import(specifier)) as { initNostrWasm: () => Promise<WasmVerifier> };
      wasm = await mod.initNostrWasm();
      return 'wasm';
    } catch {
      return 'js';
    }
  })();
  return loading;
}

/** The verifier in use now. */
export function signatureVerifier(): 'wasm' | 'js' {
  return wasm ? 'wasm' : 'js';
}

/**
 * True when the event is well formed, its id is the hash of its fields and its signature
 * is its pubkey's over that id. Never throws; never trusts a verdict cached on the object.
 */
export function eventSignatureValid(event: SignedEvent, use: 'auto' | 'js' = 'auto'): boolean {
  try {
    if (!wellFormed(event)) return false;
    // a fresh copy: nostr-tools caches its verdict on the object it was given
    const copy: SignedEvent = {
      id: event.id,
      pubkey: event.pubkey,
      created_at: event.created_at,
      kind: event.kind,
      tags: event.tags.map((t) => [...t]),
      content: event.content,
      sig: event.sig,
    };
    if (wasm && use === 'auto') {
      wasm.verifyEvent(copy);
      return true;
    }
    return verifyEventInJs(copy);
  } catch {
    return false;
  }
}
