import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per process, with Node's default metrics. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'satmachine_' });

export const ingestEvents = new Counter({
  name: 'satmachine_ingest_events_total',
  help: 'Nostr events handled by the ingest, by kind and outcome',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

export const ingestDropped = new Counter({
  name: 'satmachine_ingest_dropped_total',
  help: 'Nostr events dropped by the ingest (each event id counted once), by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const ingestBackpressure = new Counter({
  name: 'satmachine_ingest_backpressure_total',
  help: 'Times the ingest job queue was full: relays paused (source live) or the catch-up waited (source catch_up)',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const ingestCatchUpTruncated = new Counter({
  name: 'satmachine_ingest_catchup_truncated_total',
  help: 'Catch-up queries a relay may have cut short that no NIP-01 filter can split further (one machine, one second, more events than the relay returns)',
  registers: [registry],
});

export const paymentsObserved = new Counter({
  name: 'satmachine_payments_observed_total',
  help: 'Lightning payments seen on wallets, by outcome (signalled, not_a_machine, already_closed)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const httpRequests = new Counter({
  name: 'satmachine_http_requests_total',
  help: 'HTTP requests served by the API',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpLatency = new Histogram({
  name: 'satmachine_http_request_duration_seconds',
  help: 'HTTP request latency',
  labelNames: ['method', 'route'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const settlementActions = new Counter({
  name: 'satmachine_settlement_actions_total',
  help: 'Operator actions on settlements (retry, force-reset, partial-dispense, void-failed-legs, close, notes), by outcome',
  labelNames: ['action', 'outcome'] as const,
  registers: [registry],
});

export const settlementCandidatesDropped = new Counter({
  name: 'satmachine_settlement_candidates_dropped_total',
  help: 'ATM events (kind=event) and payment observations (kind=payment) a settlement workflow dropped: over its bound of 8, or a second event of one signer',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const settlementsConcluded = new Counter({
  name: 'satmachine_settlements_concluded_total',
  help: 'Settlements reaching a status (processed, partial, refunded, errored, rejected), counted by the worker',
  labelNames: ['status'] as const,
  registers: [registry],
});

export const legsPaid = new Counter({
  name: 'satmachine_legs_total',
  help: 'Payment legs attempted by the worker, by leg type and outcome (completed, failed)',
  labelNames: ['leg_type', 'outcome'] as const,
  registers: [registry],
});

export const legPaymentSeconds = new Histogram({
  name: 'satmachine_leg_payment_duration_seconds',
  help: 'Time to pay one leg through the payment backend (lock, pay, record)',
  labelNames: ['leg_type'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
