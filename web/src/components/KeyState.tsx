import type { Machine } from '../api/client';
import { Badge } from './Badge';
import { Notice } from './Notice';

/**
 * What a registration's key state means (docs/protocol.md §2.1). A proven key needs
 * no words; the other two say why the machine may show nothing and what to do.
 */
export const KEY_STATE_TEXT: Record<Machine['key_state'], string | null> = {
  proven: null,
  unverified:
    'Key not proven yet: no event signed by this machine and addressed to your operator key has been recorded. ' +
    'Its first settlement, telemetry or cassette report addressed to you proves that the machine is yours. ' +
    'Until then its beacons show only while no other operator has registered the same key.',
  unproven:
    'Key unproven: the machine’s own signed events name another operator, whose registration of this key was proven. ' +
    'This registration receives no beacons, telemetry or settlements. If the machine is yours, configure it with ' +
    'your operator key and ask for the other registration to be removed.',
};

export function KeyStateBadge({ m }: { m: Machine }) {
  if (m.key_state === 'proven') return null;
  return (
    <Badge status={m.key_state} label={m.key_state === 'unproven' ? 'key unproven' : 'key not proven yet'} />
  );
}

export function KeyStateNotice({ m }: { m: Machine }) {
  const text = KEY_STATE_TEXT[m.key_state];
  if (!text) return null;
  return (
    <Notice kind={m.key_state === 'unproven' ? 'warning' : 'info'}>
      <span data-testid="key-state">{text}</span>
    </Notice>
  );
}
