import type { Pool } from '../db/pool';
import { findUserByApiKeyHash, touchApiKeys, type UserRow } from '../db/users';
import type { Logger } from '../logger';

export type ApiKeyUser = UserRow & { api_key_id: string };

/** How long a key found active is trusted without asking PostgreSQL again (API_KEY_CACHE_TTL_MS). */
export const DEFAULT_API_KEY_CACHE_TTL_MS = 1_000;
const DEFAULT_MAX_ENTRIES = 10_000;
/** `last_used_at` is kept to the minute: a key is stamped at most once a minute */
const LAST_USED_RESOLUTION_MS = 60_000;
const DEFAULT_LAST_USED_FLUSH_MS = 1_000;

interface Entry {
  user: Promise<ApiKeyUser | null>;
  expires: number;
}

/**
 * API key look-ups, cached briefly in this process, and their `last_used_at` stamps written
 * in the background.
 *
 * - Only keys found active are kept, for `ttlMs` from the start of the look-up: a key
 *   revoked anywhere (another replica, the CLI, SQL) is refused by this process at most
 *   `ttlMs` later; a revocation through this process clears the cache at once
 *   (`invalidate`). Unknown and revoked keys are never cached, so a new key works at once.
 * - Concurrent look-ups of one key share one query.
 * - `last_used_at` (to the minute) is collected per key and written by one batched UPDATE
 *   at most every `lastUsedFlushMs`, off the request path: a failed write is logged and
 *   never fails nor delays a request.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pendingLastUsed = new Map<string, Date>();
  private readonly stampedAt = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly opts: { ttlMs?: number; maxEntries?: number; lastUsedFlushMs?: number } = {},
  ) {}

  private get ttlMs() {
    return this.opts.ttlMs ?? DEFAULT_API_KEY_CACHE_TTL_MS;
  }

  /** The active key's user (and the key id), or null when the key is unknown or revoked. */
  async find(keyHash: string): Promise<ApiKeyUser | null> {
    const now = Date.now();
    let entry = this.entries.get(keyHash);
    if (!entry || entry.expires <= now) {
      entry = { user: findUserByApiKeyHash(this.pool, keyHash), expires: now + this.ttlMs };
      this.remember(keyHash, entry);
    }
    const user = await entry.user.catch((err: unknown) => {
      this.forget(keyHash, entry);
      throw err;
    });
    if (!user) this.forget(keyHash, entry);
    else this.recordUse(user.api_key_id);
    return user;
  }

  /** Forget every cached key (a key was revoked through this process). */
  invalidate(): void {
    this.entries.clear();
  }

  /** Writes the stamps still waiting (a process about to stop). */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.flushing = this.flushing.then(() => this.writeLastUsed());
    return this.flushing;
  }

  private remember(keyHash: string, entry: Entry) {
    this.entries.delete(keyHash);
    this.entries.set(keyHash, entry);
    const max = this.opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    // oldest first: Map iterates in insertion order
    for (const k of this.entries.keys()) {
      if (this.entries.size <= max) break;
      this.entries.delete(k);
    }
  }

  private forget(keyHash: string, entry: Entry) {
    if (this.entries.get(keyHash) === entry) this.entries.delete(keyHash);
  }

  private recordUse(keyId: string) {
    const now = Date.now();
    const last = this.stampedAt.get(keyId);
    if (last !== undefined && now - last < LAST_USED_RESOLUTION_MS) return;
    if (!this.pendingLastUsed.has(keyId)) this.pendingLastUsed.set(keyId, new Date(now));
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        void this.flush();
      }, this.opts.lastUsedFlushMs ?? DEFAULT_LAST_USED_FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  private async writeLastUsed(): Promise<void> {
    if (!this.pendingLastUsed.size) return;
    const batch = [...this.pendingLastUsed];
    this.pendingLastUsed.clear();
    try {
      await touchApiKeys(
        this.pool,
        batch.map(([id]) => id),
        batch.map(([, at]) => at),
      );
      const now = Date.now();
      for (const [id] of batch) this.stampedAt.set(id, now);
      for (const [id, at] of this.stampedAt)
        if (now - at >= LAST_USED_RESOLUTION_MS) this.stampedAt.delete(id);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message, keys: batch.length },
        'API key last_used_at not written (the next use of these keys tries again); check PostgreSQL',
      );
    }
  }
}
