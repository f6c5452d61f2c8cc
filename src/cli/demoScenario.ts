import type { Logger } from '../logger';
import type { DemoFile, DemoMachine } from './demo';
import { SimulatedMachine } from './demoMachine';
import type { SettlementPlanOverride } from './simulate';

/**
 * The demo's day at the ATMs: mostly cash-outs at the lobby machine, every fourth
 * settlement a cash-in, every sixth at the airport machine (which holds 90 s before
 * paying, so it is a partial-dispense candidate, and whose LP's autoforward cannot be
 * paid, so it ends errored). Cash-outs dispense whole bills from the cassettes; the
 * machines also send beacons and telemetry while the simulation runs.
 */
export interface DemoScenario {
  machines: SimulatedMachine[];
  plan: (i: number) => SettlementPlanOverride;
}

/** The demo file's machines (an older demo file: its one machine). */
export function demoMachines(demo: DemoFile): DemoMachine[] {
  return (
    demo.machines ?? [
      {
        id: demo.machine_id,
        name: 'Lobby ATM',
        model: 'BATM4 (simulated)',
        secret: demo.machine_secret,
        wallet_id: demo.machine_wallet_id,
        fiat_code: 'USD',
        cassettes: { '1': { denomination: 20, count: 400 }, '2': { denomination: 50, count: 200 } },
      },
    ]
  );
}

/** The cassette counts the product holds now (so counts carry on from the last run); the seed's when unreadable. */
async function currentCassettes(
  apiUrl: string,
  operatorKey: string,
  m: DemoMachine,
  log: Logger,
): Promise<DemoMachine['cassettes']> {
  try {
    const res = await fetch(`${apiUrl}/api/v1/machines/${m.id}/cassettes`, {
      headers: { authorization: `Bearer ${operatorKey}` },
    });
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    const body = (await res.json()) as {
      positions?: {
        position: number;
        denomination: number;
        count: number;
        reported: { denomination: number | null; count: number | null };
      }[];
    };
    const rows = body.positions ?? [];
    if (!rows.length) return m.cassettes;
    // what the machine itself last reported (its own counter), else what the operator set
    return Object.fromEntries(
      rows.map((r) => [
        String(r.position),
        { denomination: r.reported.denomination ?? r.denomination, count: r.reported.count ?? r.count },
      ]),
    );
  } catch (err) {
    log.warn(
      { machine: m.name, err: (err as Error).message },
      'cassette counts not readable: using the seeded ones',
    );
    return m.cassettes;
  }
}

export async function demoScenario(
  demo: DemoFile,
  opts: { apiUrl: string; fiatCents: [number, number]; log: Logger },
): Promise<DemoScenario> {
  const specs = demoMachines(demo);
  const machines: SimulatedMachine[] = [];
  for (const m of specs) {
    machines.push(
      new SimulatedMachine({
        secretHex: m.secret,
        operatorPubkeyHex: demo.operator_pubkey,
        name: m.name,
        model: m.model,
        fiatCode: m.fiat_code,
        cassettes: await currentCassettes(opts.apiUrl, demo.operator_api_key, m, opts.log),
      }),
    );
  }
  const plan = (i: number): SettlementPlanOverride => {
    const index = machines.length > 1 && i % 6 === 5 ? 1 : 0;
    const machine = machines[index]!;
    const spec = specs[index]!;
    // whole units in steps of 10, from the --fiat amount up to 8× it (20 → 20..160)
    const base = Math.max(10, Math.round(opts.fiatCents[0] / 1000) * 10);
    const units = base + ((i * 7919) % (7 * (base / 10) + 1)) * 10;
    if (i % 4 === 3) {
      const twenties = Math.max(1, Math.round(units / 20));
      machine.accept(twenties);
      return {
        machineSecretHex: spec.secret,
        machineWalletId: spec.wallet_id,
        txType: 'cash_in',
        fiatCents: twenties * 20 * 100,
        bills: [{ denomination: 20, count: twenties }],
      };
    }
    // the largest amount ≤ the wish that the cassettes can pay in whole bills
    for (let amount = units; amount >= 10; amount -= 10) {
      const take = machine.planDispense(amount);
      if (!take) continue;
      return {
        machineSecretHex: spec.secret,
        machineWalletId: spec.wallet_id,
        txType: 'cash_out',
        fiatCents: amount * 100,
        cassettes: machine.dispense(take),
      };
    }
    // the cassettes are empty: the customer can only buy
    return {
      machineSecretHex: spec.secret,
      machineWalletId: spec.wallet_id,
      txType: 'cash_in',
      fiatCents: 2000,
      bills: [{ denomination: 20, count: 1 }],
    };
  };
  return { machines, plan };
}
