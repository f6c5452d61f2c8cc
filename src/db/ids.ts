import { randomBytes } from 'node:crypto';

/** A new row id: 24 lowercase hex characters (96 random bits). */
export function newId(): string {
  return randomBytes(12).toString('hex');
}
