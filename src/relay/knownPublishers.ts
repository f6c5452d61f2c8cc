import type { Pool } from '../db/pool';
import { isKnownPublisher } from '../db/relayEvents';

export interface KnownPublishersOptions {
  /** how long a registered key is trusted without asking again (default 30 s) */
  knownTtlMs?: number;
  /** how long an unknown key is refused without asking again (default 2 s) */
  unknownTtlMs?: number;
  /** entries kept at most (default 50,000); past it, expired ones go, then all */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Which pubkeys may publish under the "known" write policy: registered machines
 * and satmachine users, asked of PostgreSQL one key at a time and cached briefly.
 * A key registered a moment ago is accepted on its next event (at most
 * `unknownTtlMs` after it was last refused); a removed one is refused within
 * `knownTtlMs`. A stranger flooding the relay with fresh keys costs one indexed
 * lookup per key, and only after its signature verified. Concurrent questions about
 * one key share one query.
 */
export class KnownPublishers {
  private readonly cache = new Map<string, { known: boolean; until: number }>();
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly knownTtl: number;
  private readonly unknownTtl: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly pool: Pool,
    opts: KnownPublishersOptions = {},
  ) {
    this.knownTtl = opts.knownTtlMs ?? 30_000;
    this.unknownTtl = opts.unknownTtlMs ?? 2_000;
    this.maxEntries = opts.maxEntries ?? 50_000;
    this.now = opts.now ?? Date.now;
  }

  /** Throws when PostgreSQL cannot answer (and nothing fresh is cached). */
  async isKnown(pubkey: string): Promise<boolean> {
    const hit = this.cache.get(pubkey);
    if (hit && hit.until > this.now()) return hit.known;
    const inFlight = this.pending.get(pubkey);
    if (inFlight) return inFlight;
    const ask = isKnownPublisher(this.pool, pubkey)
      .then((known) => {
        this.remember(pubkey, known);
        return known;
      })
      .finally(() => this.pending.delete(pubkey));
    this.pending.set(pubkey, ask);
    return ask;
  }

  private remember(pubkey: string, known: boolean) {
    const now = this.now();
    if (this.cache.size >= this.maxEntries) {
      for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
      if (this.cache.size >= this.maxEntries) this.cache.clear();
    }
    this.cache.set(pubkey, { known, until: now + (known ? this.knownTtl : this.unknownTtl) });
  }
}
