/**
 * Run in a real Node process (`node --import tsx`, not jest: jest cannot load the WASM
 * verifier's ES module) by test/integration/eventSignature.test.ts: loads the WASM
 * verifier, checks a set of good and bad events with both verifiers, prints JSON.
 */
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import type { SignedEvent } from '../../src/contract';
import {
  eventSignatureValid,
  loadWasmSignatureVerifier,
  signatureVerifier,
} from '../../src/nostr/eventSignature';

function flipHex(hex: string, at: number): string {
  const c = hex[at] === '0' ? '1' : '0';
  return hex.slice(0, at) + c + hex.slice(at + 1);
}

async function main(): Promise<void> {
  const loaded = await loadWasmSignatureVerifier();
  const sk = generateSecretKey();
  const other = generateSecretKey();
  const sign = (content: string, key = sk): SignedEvent =>
    finalizeEvent({ kind: 21000, created_at: 1_760_000_000, tags: [['p', 'ab'.repeat(32)]], content }, key);
  const good = sign('a settlement "with" quotes, ünïcödé and \\u0000-free text');
  const second = sign('another');
  const foreign = sign('signed by someone else', other);
  const plain = (e: SignedEvent): SignedEvent => ({ ...e, tags: e.tags.map((t) => [...t]) });
  // the wasm verifier keeps the last signature in its buffer: a good event first, then a
  // shortened copy of its signature, must still be refused
  const cases: [string, SignedEvent, boolean][] = [
    ['good', plain(good), true],
    ['good again (cached nowhere)', plain(good), true],
    ['a second good event', plain(second), true],
    ['signed by another key', plain(foreign), true],
    ['content changed', { ...plain(good), content: 'changed' }, false],
    ['tag changed', { ...plain(good), tags: [['p', 'cd'.repeat(32)]] }, false],
    ['created_at changed', { ...plain(good), created_at: good.created_at + 1 }, false],
    ['signature of another event', { ...plain(good), sig: second.sig }, false],
    ['one signature digit changed', { ...plain(good), sig: flipHex(good.sig, 70) }, false],
    ['signature cut by a byte', { ...plain(good), sig: good.sig.slice(0, 126) }, false],
    ['signature with a non-hex digit', { ...plain(good), sig: good.sig.slice(0, 127) + 'z' }, false],
    ['signature in upper case', { ...plain(good), sig: good.sig.toUpperCase() }, false],
    ['id cut to its first byte', { ...plain(good), id: good.id.slice(0, 2) }, false],
    ['id of another event', { ...plain(good), id: second.id }, false],
    ['pubkey of another key', { ...plain(good), pubkey: getPublicKey(other) }, false],
    ['pubkey not on the curve', { ...plain(good), pubkey: 'f'.repeat(64) }, false],
    ['signature r ≥ p', { ...plain(good), sig: 'f'.repeat(64) + good.sig.slice(64) }, false],
    ['signature s ≥ n', { ...plain(good), sig: good.sig.slice(0, 64) + 'f'.repeat(64) }, false],
    ['tags not strings', { ...plain(good), tags: [['p', 5 as unknown as string]] }, false],
    ['no fields', {} as SignedEvent, false],
  ];
  const results = cases.map(([name, event, expected]) => ({
    name,
    expected,
    auto: eventSignatureValid(event),
    js: eventSignatureValid(event, 'js'),
  }));
  process.stdout.write(JSON.stringify({ loaded, inUse: signatureVerifier(), results }) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
