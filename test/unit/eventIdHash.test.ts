import { getEventHash } from 'nostr-tools/pure';
import { eventIdHash } from '../../src/nostr/eventSignature';

/** A small deterministic generator: the cases are the same on every run. */
function generator(seed: number) {
  let x = seed >>> 0;
  const next = () => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return x;
  };
  const pick = <T>(xs: readonly T[]) => xs[next() % xs.length]!;
  return { next, pick };
}

const PIECES = [
  'a',
  'Z',
  ' ',
  '"',
  '\\',
  '\n',
  '\t',
  '\u0000',
  '\u001f',
  '\u007f',
  'é',
  '€',
  '中文',
  '😀',
  '\u2028',
  '\u2029',
  '\ud800', // a lone high surrogate
  '\udfff', // a lone low surrogate
  '{"json":1}',
  '</script>',
];

/**
 * The event id satmachine computes (Node's sha256) is the one nostr-tools computes
 * (getEventHash: its serialisation, noble's sha256) for any content and tags: escapes,
 * control characters, non-ASCII, emoji, line separators, lone surrogates.
 */
describe('eventIdHash', () => {
  it('equals nostr-tools getEventHash over 2,000 generated events', () => {
    const g = generator(20261206);
    const text = () => Array.from({ length: g.next() % 12 }, () => g.pick(PIECES)).join('');
    for (let i = 0; i < 2_000; i++) {
      const event = {
        pubkey: g.next().toString(16).padStart(8, '0').repeat(8),
        created_at: g.next() % 2_000_000_000,
        kind: g.pick([1, 21000, 30078, 0, 65535]),
        tags: Array.from({ length: g.next() % 4 }, () => Array.from({ length: 1 + (g.next() % 3) }, text)),
        content: text(),
      };
      expect(eventIdHash(event)).toBe(getEventHash(event));
    }
  });
});
