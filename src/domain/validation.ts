/** Input shapes shared by the API, ingest and the workflow. Pure. */

/** LUD-16 Lightning address: name@domain (name: a-z0-9-_.+, domain with a dot or localhost[:port]). */
const LN_ADDRESS =
  /^[a-z0-9._+-]{1,64}@(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|localhost|127\.0\.0\.1)(?::\d{1,5})?$/;

export function isLightningAddress(value: string): boolean {
  return LN_ADDRESS.test(value.toLowerCase());
}

export const PAYMENT_HASH = /^[0-9a-f]{64}$/;

export function isPaymentHash(value: string): boolean {
  return PAYMENT_HASH.test(value);
}

export const FIAT_CODE = /^[A-Z]{3}$/;
