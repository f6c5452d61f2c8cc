import type { ApiDeps } from './deps';

/**
 * Whether a user may name this wallet: a machine's wallet (it receives the machine's
 * Lightning payments and pays its legs) or an LP's payout wallet. Either must be the
 * user's own — with the ledger a wallet they created, with LNbits one whose keys they
 * registered (a machine's with its admin key, since it pays). Returns what is wrong,
 * or null. Another user's wallet reads as unknown: no tenant learns another's wallets.
 */
export async function walletProblem(
  deps: ApiDeps,
  userId: string,
  walletId: string,
  use: 'machine' | 'payout',
): Promise<string | null> {
  if (deps.ledger) {
    const w = await deps.ledger.getWallet(walletId);
    if (!w || w.kind !== 'user' || w.owner_user_id !== userId) {
      return `wallet ${walletId} is not one of your ledger wallets (create one with POST /api/v1/ledger/wallets)`;
    }
    return null;
  }
  if (deps.lnbits) {
    const w = await deps.lnbits.getWallet(walletId);
    if (!w || w.owner_user_id !== userId) {
      return `wallet ${walletId} is not one of your LNbits wallets (register its keys with POST /api/v1/lnbits/wallets)`;
    }
    if (use === 'machine' && !w.can_pay) {
      return `LNbits wallet ${walletId} was registered without its admin key; a machine's wallet pays the legs, so register its admin key too`;
    }
    return null;
  }
  return null;
}

/**
 * Whether the payment backend can pay this destination at all: a wallet id (the
 * ledger's own wallet; with LNbits a wallet whose invoice key is registered, since
 * it creates the invoice) or a Lightning address (the embedded ledger pays only its
 * own, `<wallet id>@<its domain>`; LNbits any whose domain resolves to public internet
 * addresses only). Saves an operator a settlement that errors on every payment.
 * Returns what is wrong, or null.
 */
export async function destinationProblem(deps: ApiDeps, target: string): Promise<string | null> {
  const at = target.lastIndexOf('@');
  if (deps.ledger) {
    const domain = deps.ledger.lnAddressDomain;
    const walletId =
      at < 0 ? target : target.slice(at + 1).toLowerCase() === domain ? target.slice(0, at) : null;
    if (walletId === null) {
      return `this installation pays with its embedded ledger, which reaches only its own Lightning addresses (<wallet id>@${domain}); ${target} needs a real Lightning backend (PAYMENT_BACKEND=lnbits)`;
    }
    const w = await deps.ledger.getWallet(walletId);
    return w && w.kind === 'user' ? null : `wallet ${walletId} does not exist in the ledger`;
  }
  if (deps.lnbits && at < 0 && !(await deps.lnbits.getWallet(target))) {
    return `LNbits wallet ${target} is not registered: its owner registers its invoice key with POST /api/v1/lnbits/wallets`;
  }
  // a Lightning address whose domain resolves to loopback, private or link-local addresses (SSRF)
  if (deps.lnbits && at >= 0) return deps.lnbits.addressProblem(target);
  return null;
}
