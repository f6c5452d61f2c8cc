import { D_BEACON, D_TELEMETRY, KIND_APP_DATA, KIND_TELEMETRY } from '../contract';
import type { Logger } from '../logger';
import { encryptFor, pubkeyOf, signEvent } from '../nostr/codec';
import { RelayClient } from '../nostr/relayClient';
import type { SignedEvent } from '../contract';

/** One cassette position of a simulated machine. */
export interface SimulatedCassette {
  denomination: number;
  count: number;
}

/** What a simulated ATM reports about itself besides settlements: beacon, telemetry, cassettes. */
export interface SimulatedMachineProfile {
  secretHex: string;
  operatorPubkeyHex: string;
  name: string;
  model: string;
  fiatCode: string;
  /** positions "1".."n" with their bills; counts go down as the machine dispenses */
  cassettes: Record<string, SimulatedCassette>;
}

/**
 * The state a simulated machine keeps between its events: cassette counts that go down
 * as it dispenses (every settlement's `cassettes` field reports them) and the counters its telemetry reports.
 */
export class SimulatedMachine {
  private readonly startedAt = Date.now();
  private dispensedBills = 0;
  private acceptedBills = 0;

  constructor(readonly profile: SimulatedMachineProfile) {}

  get pubkeyHex(): string {
    return pubkeyOf(this.profile.secretHex);
  }

  /** The bills for a cash-out of `fiatUnits` (largest first, exact), or null when the cassettes cannot pay it. */
  planDispense(fiatUnits: number): Record<string, number> | null {
    const positions = Object.entries(this.profile.cassettes).sort(
      ([, a], [, b]) => b.denomination - a.denomination,
    );
    // exact change with the fewest bills: a small search, positions are few
    const best = { bills: Infinity, take: null as Record<string, number> | null };
    const walk = (i: number, left: number, take: Record<string, number>, bills: number) => {
      if (left === 0) {
        if (bills < best.bills) best.take = { ...take };
        if (bills < best.bills) best.bills = bills;
        return;
      }
      if (i >= positions.length) return;
      const [pos, c] = positions[i]!;
      for (let n = Math.min(c.count, Math.floor(left / c.denomination)); n >= 0; n--) {
        if (bills + n >= best.bills) continue;
        walk(i + 1, left - n * c.denomination, n ? { ...take, [pos]: n } : take, bills + n);
      }
    };
    walk(0, fiatUnits, {}, 0);
    return best.take;
  }

  /** Takes the bills out of the cassettes; returns every position's count after it (the event's `cassettes`). */
  dispense(take: Record<string, number>): Record<string, SimulatedCassette> {
    for (const [pos, n] of Object.entries(take)) {
      const c = this.profile.cassettes[pos];
      if (!c || c.count < n) throw new Error(`cassette ${pos} cannot dispense ${n} bills`);
      c.count -= n;
      this.dispensedBills += n;
    }
    return this.cassetteSnapshot();
  }

  accept(bills: number): void {
    this.acceptedBills += bills;
  }

  cassetteSnapshot(): Record<string, SimulatedCassette> {
    return Object.fromEntries(Object.entries(this.profile.cassettes).map(([p, c]) => [p, { ...c }]));
  }

  private cashLevel(): 'high' | 'low' | 'empty' {
    const total = Object.values(this.profile.cassettes).reduce((a, c) => a + c.count, 0);
    return total === 0 ? 'empty' : total < 40 ? 'low' : 'high';
  }

  /**
   * Beacon (kind 30078, d=bitspire-beacon, plaintext) and telemetry, signed now. No
   * cassette state: that bootstrap event overwrites the operator's counts, so a machine
   * sends it once (the demo seeds it) and reports counts in each settlement after.
   */
  stateEvents(): SignedEvent[] {
    const p = this.profile;
    const denominations = [...new Set(Object.values(p.cassettes).map((c) => c.denomination))].sort(
      (a, b) => a - b,
    );
    const beacon = signEvent(p.secretHex, {
      kind: KIND_APP_DATA,
      tags: [['d', D_BEACON]],
      content: JSON.stringify({
        cash_in: true,
        cash_out: this.cashLevel() !== 'empty',
        cash_level: this.cashLevel(),
        fiat: p.fiatCode,
        model: p.model,
        name: p.name,
        version: 'satmachine-simulator',
        denominations,
      }),
    });
    const telemetry = signEvent(p.secretHex, {
      kind: KIND_TELEMETRY,
      tags: [
        ['d', D_TELEMETRY],
        ['p', p.operatorPubkeyHex],
      ],
      content: encryptFor(
        p.secretHex,
        p.operatorPubkeyHex,
        JSON.stringify({
          uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
          temperature_c: 38 + (Math.floor(Date.now() / 60_000) % 5),
          bills_dispensed: this.dispensedBills,
          bills_accepted: this.acceptedBills,
          printer: { paper: 'ok' },
          network: { link: 'ethernet' },
        }),
      ),
    });
    return [beacon, telemetry];
  }

  /** Publishes beacon and telemetry; returns how many relays refused any of them. */
  async publishState(relays: readonly RelayClient[]): Promise<number> {
    let refused = 0;
    for (const event of this.stateEvents()) {
      const results = await Promise.all(
        relays.map((r) =>
          r.publish(event, 5000).catch((err: Error) => ({ accepted: false, message: err.message })),
        ),
      );
      refused += results.filter((r) => !r.accepted).length;
    }
    return refused;
  }
}

/**
 * Publishes every machine's state now and then every `intervalMs` until stopped: how a
 * simulated fleet stays "online" (the console counts a machine offline 180 s after
 * its last sign of life).
 */
export function startMachineHeartbeat(
  machines: readonly SimulatedMachine[],
  relays: readonly string[],
  logger: Logger,
  intervalMs = 60_000,
): { stop: () => void; beat: () => Promise<void> } {
  // one connection per relay for the whole run (reconnects on its own)
  // its connect / disconnect lines only when something goes wrong (the simulator's stdout ends with its JSON)
  const quiet = logger.child({}, { level: 'warn' });
  const clients = relays.map((url) => new RelayClient(url, { logger: quiet }).start());
  const beat = async () => {
    await Promise.all(clients.map((c) => c.waitConnected(5000).catch(() => undefined)));
    for (const m of machines) {
      const refused = await m.publishState(clients).catch((err: Error) => {
        logger.warn({ err: err.message, machine: m.profile.name }, 'simulated machine state not published');
        return 0;
      });
      if (refused)
        logger.warn({ machine: m.profile.name, refused }, 'a relay refused the simulated machine state');
    }
  };
  void beat();
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      for (const c of clients) c.close();
    },
    beat,
  };
}
