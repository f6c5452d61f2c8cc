import { generateSecretKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { buildSettlementEvent, pubkeyOf, signEvent } from '../../src/nostr/codec';
import {
  openSettlementEvent,
  type KeyRegistration,
  type SettlementEventKeys,
} from '../../src/nostr/settlementEvent';
import { KIND_SETTLEMENT } from '../../src/contract';

const secret = () => bytesToHex(generateSecretKey());
const machineSecret = secret();
const machinePub = pubkeyOf(machineSecret);
const opA = { id: 'op-a', secret: secret() };
const opB = { id: 'op-b', secret: secret() };
const pubA = pubkeyOf(opA.secret);
const pubB = pubkeyOf(opB.secret);

const content = {
  v: 1,
  txid: 'tx-1',
  tx_type: 'cash_out',
  payment_hash: 'a'.repeat(64),
  wire_sats: 1000,
  fiat_amount: '1.00',
  fiat_code: 'USD',
  exchange_rate: 100000,
  fee_sats: 10,
};

/** A key directory like the ingest's: registrations per machine key, operators by Nostr key. */
function keys(
  regs: KeyRegistration[],
  operators: { id: string; pub: string; secret: string | null }[],
): SettlementEventKeys<KeyRegistration> & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    registrations: (pub) => (pub === machinePub ? regs : []),
    operator: (pub) => {
      const o = operators.find((x) => x.pub === pub);
      return o
        ? {
            id: o.id,
            secretHex: () => {
              opened.push(o.id);
              return o.secret;
            },
          }
        : null;
    },
  };
}

const regA: KeyRegistration = { id: 'm-a', operator_user_id: 'op-a', key_state: 'proven' };
const regB: KeyRegistration = { id: 'm-b', operator_user_id: 'op-b', key_state: 'unverified' };

describe('openSettlementEvent: the one path from a signed event to its machine and content', () => {
  it('opens an event addressed to the machine’s operator: the registration, the content, one secret opened', () => {
    const k = keys([regA], [{ id: 'op-a', pub: pubA, secret: opA.secret }]);
    const r = openSettlementEvent(buildSettlementEvent(machineSecret, pubA, content), k);
    expect(r).toMatchObject({ ok: true, machine: { id: 'm-a' }, content: { payment_hash: 'a'.repeat(64) } });
    expect(k.opened).toEqual(['op-a']);
  });

  it('refuses a tampered event before it looks anything up or opens a secret', () => {
    const k = keys([regA], [{ id: 'op-a', pub: pubA, secret: opA.secret }]);
    const e = buildSettlementEvent(machineSecret, pubA, content);
    const r = openSettlementEvent({ ...e, content: e.content.slice(0, -4) + 'AAAA' }, k);
    expect(r).toMatchObject({ ok: false, reason: 'bad_signature', machine: null });
    expect(k.opened).toEqual([]);
  });

  it('a stranger’s key is unknown; an event tagged to nobody we know is not for us; neither opens a secret', () => {
    const k = keys([regA], [{ id: 'op-a', pub: pubA, secret: opA.secret }]);
    const stranger = buildSettlementEvent(secret(), pubA, content);
    expect(openSettlementEvent(stranger, k)).toMatchObject({ ok: false, reason: 'unknown_pubkey' });
    const elsewhere = buildSettlementEvent(machineSecret, pubkeyOf(secret()), content);
    expect(openSettlementEvent(elsewhere, k)).toMatchObject({ ok: false, reason: 'not_for_us' });
    expect(k.opened).toEqual([]);
  });

  it('an event tagged to an operator whose registration is unproven is refused, even with a second p tag for it', () => {
    const k = keys([{ ...regA, key_state: 'unproven' }], [{ id: 'op-a', pub: pubA, secret: opA.secret }]);
    const e = signEvent(machineSecret, {
      kind: KIND_SETTLEMENT,
      tags: [
        ['p', pubA],
        ['p', pubA],
      ],
      content: buildSettlementEvent(machineSecret, pubA, content).content,
    });
    expect(openSettlementEvent(e, k)).toMatchObject({ ok: false, reason: 'unproven_key' });
    expect(k.opened).toEqual([]);
  });

  it('routes by p tag to the addressed operator’s registration, never to another operator’s', () => {
    const k = keys(
      [regA, regB],
      [
        { id: 'op-a', pub: pubA, secret: opA.secret },
        { id: 'op-b', pub: pubB, secret: opB.secret },
      ],
    );
    const r = openSettlementEvent(buildSettlementEvent(machineSecret, pubB, content), k);
    expect(r).toMatchObject({ ok: true, machine: { id: 'm-b' } });
    expect(k.opened).toEqual(['op-b']);
  });

  it('content encrypted to another key, or not a settlement, does not open: the registration is named', () => {
    const k = keys([regA], [{ id: 'op-a', pub: pubA, secret: opA.secret }]);
    // signed by the machine and tagged to A, but encrypted to B
    const wrongKey = signEvent(machineSecret, {
      kind: KIND_SETTLEMENT,
      tags: [['p', pubA]],
      content: buildSettlementEvent(machineSecret, pubB, content).content,
    });
    expect(openSettlementEvent(wrongKey, k)).toMatchObject({
      ok: false,
      reason: 'invalid_content',
      machine: { id: 'm-a' },
    });
    const badContent = buildSettlementEvent(machineSecret, pubA, { ...content, wire_sats: -1 });
    expect(openSettlementEvent(badContent, k)).toMatchObject({ ok: false, reason: 'invalid_content' });
  });

  it('no key held for the addressed operator: no_operator_key, with the registration', () => {
    const k = keys([regA], [{ id: 'op-a', pub: pubA, secret: null }]);
    expect(openSettlementEvent(buildSettlementEvent(machineSecret, pubA, content), k)).toMatchObject({
      ok: false,
      reason: 'no_operator_key',
      machine: { id: 'm-a' },
    });
  });
});
