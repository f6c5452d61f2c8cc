import {
  D_BEACON,
  D_CASSETTES_STATE_PREFIX,
  D_TELEMETRY,
  KIND_APP_DATA,
  KIND_SETTLEMENT,
  KIND_TELEMETRY,
} from '../../src/contract';
import { MACHINE_EVENT_KINDS, accepts, machineEventKind } from '../../src/ingest/machineEventTable';

/**
 * The dispatch table of machine events (src/ingest/machineEventTable.ts): each
 * (kind, d tag) reaches exactly one handler, anything else none (dropped `unknown_kind`
 * by the stream; see test/integration/machineEvents.test.ts for the handlers).
 */
describe('machine event table', () => {
  /** a d tag each entry accepts */
  const sample = (d: { exact: string } | { prefix: string }) => ('exact' in d ? d.exact : `${d.prefix}x`);

  it('each entry is reached by its own (kind, d tag) and by no other entry', () => {
    for (const entry of MACHINE_EVENT_KINDS) {
      const d = sample(entry.d);
      expect(MACHINE_EVENT_KINDS.filter((e) => accepts(e, entry.kind, d))).toEqual([entry]);
      expect(machineEventKind(entry.kind, d)).toBe(entry);
    }
  });

  it('routes the protocol events of SPEC §3 and nothing that only resembles them', () => {
    const beacon = machineEventKind(KIND_APP_DATA, D_BEACON);
    const telemetry = machineEventKind(KIND_TELEMETRY, D_TELEMETRY);
    const cassettes = machineEventKind(KIND_APP_DATA, `${D_CASSETTES_STATE_PREFIX}npub1abc`);
    expect(new Set([beacon, telemetry, cassettes]).size).toBe(3);
    expect([beacon, telemetry, cassettes]).not.toContain(undefined);

    // the right d tag on the wrong kind, a d tag that merely starts or ends alike, no d tag
    for (const [kind, d] of [
      [KIND_TELEMETRY, D_BEACON],
      [KIND_APP_DATA, D_TELEMETRY],
      [KIND_TELEMETRY, `${D_CASSETTES_STATE_PREFIX}npub1abc`],
      [KIND_SETTLEMENT, D_BEACON],
      [KIND_APP_DATA, `${D_BEACON}x`],
      [KIND_APP_DATA, `x${D_BEACON}`],
      [KIND_APP_DATA, D_BEACON.toUpperCase()],
      [KIND_APP_DATA, D_CASSETTES_STATE_PREFIX.slice(0, -1)],
      [KIND_APP_DATA, ''],
      [KIND_TELEMETRY, ''],
    ] as const) {
      expect([kind, d, machineEventKind(kind, d)]).toEqual([kind, d, undefined]);
    }
  });
});
