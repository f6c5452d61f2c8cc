import type { MachineRow } from '../db/machines';
import type { MachineInfo } from './types';

/** What a workflow keeps of a machine (search attributes, holds, logs). */
export function machineInfo(m: MachineRow): MachineInfo {
  return {
    id: m.id,
    operator_user_id: m.operator_user_id,
    name: m.name,
    npub_prefix: m.machine_npub.slice(0, 8),
    distribution_delay_seconds: m.distribution_delay_seconds,
  };
}

/** The start of a machine's npub that tells keys apart in a log: `npub1` and the key's first 8 characters. */
export function npubPrefix(npub: string): string {
  return npub.startsWith('npub1') ? npub.slice(0, 13) : npub.slice(0, 8);
}
