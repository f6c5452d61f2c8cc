import { LedgerLegBatcher, type LegBatchPayer } from '../../src/payments/ledgerLegBatcher';

/** A payer that records every call and answers when the test says so. */
function recordingPayer(opts: { failBatchWith?: Error; failLeg?: string } = {}) {
  const calls: string[][] = [];
  const pending: (() => void)[] = [];
  const gate = () => new Promise<void>((r) => pending.push(r));
  const payer: LegBatchPayer<string> = {
    one: async (legId) => {
      calls.push([legId]);
      await gate();
      if (legId === opts.failLeg) throw new Error(`leg ${legId} raised`);
      return `paid ${legId}`;
    },
    many: async (legIds) => {
      calls.push([...legIds]);
      await gate();
      if (opts.failBatchWith) throw opts.failBatchWith;
      return legIds.map((id) => `paid ${id} with ${legIds.length - 1} others`);
    },
  };
  /** lets every call made so far answer, then waits for what that starts */
  const release = async () => {
    while (pending.length) pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { payer, calls, release };
}

describe('LedgerLegBatcher: legs waiting at the same moment share a payment', () => {
  it('pays a leg at once and alone when a slot is free; legs that wait go together, in order', async () => {
    const { payer, calls, release } = recordingPayer();
    const b = new LedgerLegBatcher(payer, { maxBatch: 64, maxInFlight: 1 });
    const first = b.pay('a');
    const rest = ['b', 'c', 'd'].map((id) => b.pay(id));
    expect(calls).toEqual([['a']]);
    expect(b.queued).toBe(3);
    await release();
    expect(await first).toBe('paid a');
    expect(calls).toEqual([['a'], ['b', 'c', 'd']]);
    await release();
    expect(await Promise.all(rest)).toEqual([
      'paid b with 2 others',
      'paid c with 2 others',
      'paid d with 2 others',
    ]);
    expect(b.queued).toBe(0);
  });

  it('keeps at most maxInFlight payments running and at most maxBatch legs in one', async () => {
    const { payer, calls, release } = recordingPayer();
    const b = new LedgerLegBatcher(payer, { maxBatch: 3, maxInFlight: 2 });
    const all = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((id) => b.pay(id));
    expect(calls).toEqual([['1'], ['2']]);
    await release();
    expect(calls.slice(2)).toEqual([
      ['3', '4', '5'],
      ['6', '7', '8'],
    ]);
    await release();
    expect(calls.slice(4)).toEqual([['9']]);
    await release();
    expect((await Promise.all(all)).length).toBe(9);
  });

  it('a batch that fails as a whole is paid leg by leg, in order, one at a time: each leg gets its own answer or its own error', async () => {
    const { payer, calls, release } = recordingPayer({
      failBatchWith: new Error('one leg raised'),
      failLeg: 'y',
    });
    const failed: number[] = [];
    const b = new LedgerLegBatcher(payer, {
      maxBatch: 64,
      maxInFlight: 1,
      onBatchFailed: (legs) => failed.push(legs),
    });
    const first = b.pay('w');
    const rest = ['x', 'y', 'z'].map((id) => b.pay(id).then(String, (e: Error) => `error: ${e.message}`));
    await release(); // w alone
    await release(); // the batch x, y, z fails
    expect(failed).toEqual([3]);
    // then x, y, z alone, one after another (never more than maxInFlight at once)
    expect(calls).toEqual([['w'], ['x', 'y', 'z'], ['x']]);
    await release();
    expect(calls.slice(3)).toEqual([['y']]);
    await release();
    await release();
    expect(await first).toBe('paid w');
    expect(await Promise.all(rest)).toEqual(['paid x', 'error: leg y raised', 'paid z']);
    expect(calls).toEqual([['w'], ['x', 'y', 'z'], ['x'], ['y'], ['z']]);
  });

  it('refuses settings that could never pay', () => {
    const { payer } = recordingPayer();
    expect(() => new LedgerLegBatcher(payer, { maxBatch: 0, maxInFlight: 1 })).toThrow(/maxBatch ≥ 1/);
    expect(() => new LedgerLegBatcher(payer, { maxBatch: 1, maxInFlight: 0 })).toThrow(/maxInFlight ≥ 1/);
  });
});
