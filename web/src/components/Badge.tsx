const TONES: Record<string, string> = {
  processed: 'good',
  completed: 'good',
  confirmed: 'good',
  online: 'good',
  active: 'good',
  partial: 'info',
  refunded: 'info',
  processing: 'info',
  pending: 'neutral',
  skipped: 'neutral',
  voided: 'neutral',
  inactive: 'neutral',
  offline: 'neutral',
  errored: 'bad',
  failed: 'bad',
  rejected: 'bad',
  unverified: 'info',
  unproven: 'bad',
};

/** A status word with a tone; the word itself carries the meaning (never the colour alone). */
export function Badge({ status, label }: { status: string; label?: string }) {
  return <span className={`badge badge-${TONES[status] ?? 'neutral'}`}>{label ?? status}</span>;
}
