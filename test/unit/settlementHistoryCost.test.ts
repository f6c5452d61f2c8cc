import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The fixed Temporal work of one settlement, read from histories recorded on the
 * current code (test/histories/current, `RECORD_HISTORIES=1 npx jest
 * test/integration/replay.test.ts`): patch `lean-settlement-events` (docs/settlement.md
 * §4.6, §6) removed the duplicate `pending` upsert, merged the main flow's three
 * upserts into one and the stuck timer around a payment round.
 */
interface HistoryEvent {
  eventType: string;
  markerRecordedEventAttributes?: {
    markerName?: string;
    details?: { data?: { payloads?: { data?: string }[] } };
  };
  upsertWorkflowSearchAttributesEventAttributes?: {
    searchAttributes?: { indexedFields?: Record<string, { data?: string }> };
  };
}

const DIR = join(__dirname, '..', 'histories', 'current');
const events = (name: string): HistoryEvent[] =>
  (JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as { events: HistoryEvent[] }).events;

const upserts = (evs: HistoryEvent[]) =>
  evs
    .filter((e) => e.eventType === 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES')
    .map((e) =>
      Object.fromEntries(
        Object.entries(
          e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
        ).map(([k, v]) => [k, JSON.parse(Buffer.from(v.data ?? '', 'base64').toString('utf8')) as unknown]),
      ),
    );

/**
 * Workflow tasks depend on how the workers' completions happen to batch (timing), so
 * the bound is on every other event: commands, markers, signals, activities. The
 * history this one replaced (before the patch) held 36 of them (54 events in all: 6
 * upserts, 2 timers started and cancelled); this one holds 33 (4 upserts, 1 timer —
 * the waiting one — and the patch's own marker and TemporalChangeVersion upsert).
 */
const BEFORE = { events: 36, upserts: 6, timers: 2 };
const NOW_AT_MOST = { events: 33, upserts: 4, timers: 1 };

describe('Temporal events per settlement', () => {
  const cashOut = events('cash-out-processed');
  const count = (type: string) => cashOut.filter((e) => e.eventType === type).length;

  it(`a processed 3-leg cash-out records at most ${NOW_AT_MOST.events} events besides workflow tasks (${BEFORE.events} before)`, () => {
    const fixed = cashOut.filter((e) => !e.eventType.startsWith('EVENT_TYPE_WORKFLOW_TASK_')).length;
    expect(fixed).toBeLessThanOrEqual(NOW_AT_MOST.events);
    expect(fixed).toBeLessThan(BEFORE.events);
    // each patch's own TemporalChangeVersion upsert aside (ledger-legs-local-activities adds one)
    const ours = upserts(cashOut).filter(
      (x) => !('TemporalChangeVersion' in x && Object.keys(x).length === 1),
    );
    expect(ours.length).toBeLessThanOrEqual(NOW_AT_MOST.upserts);
    expect(count('EVENT_TYPE_TIMER_STARTED')).toBeLessThanOrEqual(NOW_AT_MOST.timers);
  });

  it('upserts no `pending` the start already set, and the machine, tx type and status in one event', () => {
    const u = upserts(cashOut);
    expect(u.filter((x) => x.SettlementStatus === 'pending')).toEqual([]);
    const tagged = u.filter((x) => 'MachineId' in x);
    expect(tagged).toHaveLength(1);
    expect(Object.keys(tagged[0]!).sort()).toEqual(['MachineId', 'OperatorId', 'SettlementStatus', 'TxType']);
    expect(tagged[0]!.SettlementStatus).toBe('processing');
    expect(u.filter((x) => 'TxType' in x)).toHaveLength(1);
  });

  it('starts no timer once the legs are paid: the SQL stuck check watches a round', () => {
    // a leg: a normal activity scheduled, or (ledger legs) a local activity marker of payLeg
    const isLeg = (e: HistoryEvent) =>
      e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' ||
      (e.markerRecordedEventAttributes?.markerName === 'core_local_activity' &&
        (e.markerRecordedEventAttributes.details?.data?.payloads ?? []).some((p) =>
          Buffer.from(p.data ?? '', 'base64')
            .toString('utf8')
            .includes('"activity_type":"payLeg"'),
        ));
    const firstLeg = cashOut.findIndex(isLeg);
    expect(firstLeg).toBeGreaterThan(0);
    expect(cashOut.slice(firstLeg).filter((e) => e.eventType === 'EVENT_TYPE_TIMER_STARTED')).toEqual([]);
  });

  it('keeps every page of a fan-out far below 2,000 events', () => {
    for (const name of ['fan-out-child-pages', 'fan-out-child-pages-page1']) {
      expect(events(name).length).toBeLessThan(2_000);
    }
  });
});
