import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';
import { eventSignatureValid, signatureVerifier } from '../../src/nostr/eventSignature';

interface Outcome {
  loaded: string;
  inUse: string;
  results: { name: string; expected: boolean; auto: boolean; js: boolean }[];
}

describe('Nostr event signatures: the WASM verifier and the JS one agree', () => {
  it('in a real process the WASM verifier loads, and both give the expected verdict on every case', () => {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '..', 'helpers', 'eventSignatureCases.ts')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const outcome = JSON.parse(out.trim().split('\n').pop()!) as Outcome;
    expect(outcome).toMatchObject({ loaded: 'wasm', inUse: 'wasm' });
    expect(outcome.results.length).toBeGreaterThan(15);
    for (const r of outcome.results)
      expect({ name: r.name, auto: r.auto, js: r.js }).toEqual({
        name: r.name,
        auto: r.expected,
        js: r.expected,
      });
  });

  it('under jest (which cannot load the ES module) the JS verifier runs, with the same checks', () => {
    expect(signatureVerifier()).toBe('js');
    const e = finalizeEvent(
      { kind: 1, created_at: 1_760_000_000, tags: [], content: 'x' },
      generateSecretKey(),
    );
    expect(eventSignatureValid({ ...e, tags: [] })).toBe(true);
    expect(eventSignatureValid({ ...e, tags: [], sig: e.sig.slice(0, 126) })).toBe(false);
    expect(eventSignatureValid({ ...e, tags: [], content: 'y' })).toBe(false);
  });
});
