import type { SignedEvent } from '../contract';
import type { Filter } from '../nostr/relayClient';

/**
 * What a stream handler says of one event. A drop is `authentic` when the event
 * verified and its author is an active machine (it was dropped for its content):
 * such drops move a catch-up cursor like accepted events; other drops never do.
 */
export type HandleOutcome =
  { kind: 'ok'; detail?: string } | { kind: 'drop'; reason: string; detail: string; authentic?: boolean };

/** A drop with its reason (a metric label) and a detail for the log. */
export const drop = (reason: string, detail: string, authentic?: boolean): HandleOutcome =>
  authentic === undefined ? { kind: 'drop', reason, detail } : { kind: 'drop', reason, detail, authentic };

/**
 * One subscription of the ingest (src/ingest/ingestService.ts runs them): its
 * filters and the handler of each event it receives.
 */
export interface IngestStream {
  /** stream name: a subscription id and a cursor key */
  name: string;
  /** the live subscription (null: nothing to listen for yet) */
  live(): Filter[] | null;
  /**
   * Streams of events a relay keeps only for a while (kind 21000) catch up on every
   * (re)connect with these filters, from a persisted cursor, page by page. Each
   * filter is paged on its own; a filter's `authors` may be split to read more
   * events of one second than the relay returns for one filter.
   */
  catchUp?(since: number): Filter[] | null;
  handle(event: SignedEvent, relay: string): Promise<HandleOutcome>;
}
