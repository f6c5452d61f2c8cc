import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids, drawn from the CSPRNG a block at a time: one `getrandom` per
 * 341 ids instead of one per id (a system call costs more than the id on a virtual
 * machine; crypto.randomUUID keeps a cache the same way).
 */
const POOL = Buffer.alloc(12 * 341);
let offset = POOL.length;

/** A new row id: 24 lowercase hex characters (96 random bits). */
export function newId(): string {
  if (offset + 12 > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const id = POOL.toString('hex', offset, offset + 12);
  offset += 12;
  return id;
}
