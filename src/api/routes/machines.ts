import { insertWallet } from '../../db/ledger';
import { withTransaction, type Queryable } from '../../db/pool';
import { z } from 'zod';
import {
  operatorRegistrationOfKey,
  deleteMachine,
  getOperatorMachine,
  insertMachine,
  keyProvenElsewhere,
  listOperatorMachines,
  lockMachineKey,
  lockMachineRow,
  machineHasHistory,
  releaseMachineKey,
  settleKeyStateAfterChange,
  updateMachine,
  type MachineRow,
} from '../../db/machines';
import { machineHasMoneyRecords } from '../../db/deposits';
import { machineStatuses, type MachineStatus } from '../../db/telemetry';
import { toNpub } from '../../domain/nostrKeys';
import type { ApiDeps } from '../deps';
import { conflict, invalidField, notFound, unprocessable } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { walletProblem } from '../walletOwnership';
import { feeFraction, fiatCode, idParams, pubkey, walletId } from '../schemas';

/** Whether a machine is online (seen recently) and what its last beacon said of its cash and version. */
export const machineStatusShape = z.object({
  online: z.boolean(),
  last_seen_at: z.string().nullable(),
  cash_in: z.boolean().nullable(),
  cash_out: z.boolean().nullable(),
  cash_level: z.string().nullable(),
  version: z.string().nullable(),
});

export const machineShape = z
  .object({
    id: z.string(),
    operator_user_id: z.string(),
    machine_npub: z.string(),
    machine_pubkey_hex: z.string(),
    wallet_id: z.string(),
    name: z.string(),
    location: z.string().nullable(),
    fiat_code: z.string(),
    is_active: z.boolean(),
    operator_cash_in_fee_fraction: z.string(),
    operator_cash_out_fee_fraction: z.string(),
    distribution_delay_seconds: z.number().int(),
    key_state: z
      .enum(['unverified', 'proven', 'unproven'])
      .describe(
        'Proof of the machine key (docs/protocol.md §2.1). unverified: no event signed by the key and addressed to this operator has been recorded yet; ' +
          "proven: one has, this registration receives the machine's events; unproven: another operator's registration of the key was proven, " +
          'this one receives no beacons, telemetry or settlements',
      ),
    key_proven_at: z.string().nullable().describe('when the key was proven for this registration'),
    created_at: z.string(),
    updated_at: z.string(),
    status: machineStatusShape,
  })
  .meta({ id: 'Machine' });

export function machineView(m: MachineRow, status: MachineStatus | undefined) {
  return {
    ...m,
    key_proven_at: m.key_proven_at ? m.key_proven_at.toISOString() : null,
    created_at: m.created_at.toISOString(),
    updated_at: m.updated_at.toISOString(),
    status: status ?? {
      online: false,
      last_seen_at: null,
      cash_in: null,
      cash_out: null,
      cash_level: null,
      version: null,
    },
  };
}

/** PostgreSQL unique violations of dca_machines, in words. */
function uniqueViolation(err: unknown): Error | null {
  const e = err as { code?: string; constraint?: string };
  if (e.code !== '23505') return null;
  if (e.constraint?.includes('wallet')) {
    const message = 'another active machine already uses this wallet_id';
    return conflict(message, [{ field: 'body.wallet_id', message }]);
  }
  if (e.constraint?.includes('proven')) return keyProven();
  return ownDuplicate(null);
}

/** The key is proven by a registration: says so without saying whose it is. */
function keyProven(): Error {
  const message =
    "this machine key is already registered and proven: the machine's own signed events name another operator. " +
    'Check the key; if the machine is yours, its current registration must be deactivated or deleted before you can register it';
  return conflict(message, [{ field: 'body.machine_npub', message }]);
}

function ownDuplicate(id: string | null): Error {
  const message = `you already registered this machine key${id ? ` (machine ${id})` : ''}`;
  return conflict(message, [{ field: 'body.machine_npub', message }]);
}

/**
 * Before a registration takes `pubkeyHex` (under lockMachineKey): the operator has
 * no other registration of it, and nobody's registration of it is proven.
 */
async function checkKeyFree(db: Queryable, operatorId: string, pubkeyHex: string, selfId: string | null) {
  const own = await operatorRegistrationOfKey(db, operatorId, pubkeyHex, selfId);
  if (own !== null) throw ownDuplicate(own);
  if (await keyProvenElsewhere(db, pubkeyHex, selfId)) throw keyProven();
}

const machineFields = {
  name: z.string().trim().min(1).max(200),
  location: z.string().trim().max(500).nullable().optional(),
  fiat_code: fiatCode,
  operator_cash_in_fee_fraction: feeFraction.optional(),
  operator_cash_out_fee_fraction: feeFraction.optional(),
  distribution_delay_seconds: z.number().int().min(0).max(604800).optional(),
};

export function machineRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const STATUS_ONLINE_SECONDS = 180;

  r.add(
    {
      method: 'get',
      path: '/machines',
      operationId: 'listMachines',
      summary: "The operator's machines, with live status",
      tag: 'machines',
      auth: ['operator'],
      response: z.array(machineShape),
    },
    async ({ user }) => {
      const machines = await listOperatorMachines(deps.pool, user.id);
      const statuses = await machineStatuses(
        deps.pool,
        machines.map((m) => m.id),
        STATUS_ONLINE_SECONDS,
      );
      return machines.map((m) => machineView(m, statuses.get(m.id)));
    },
  );

  r.add(
    {
      method: 'post',
      path: '/machines',
      operationId: 'createMachine',
      summary:
        'Register a machine (public key as hex or npub); with the ledger backend a missing wallet_id gets a new wallet. ' +
        "Several operators may register one key until the machine's own events prove one registration (key_state, docs/protocol.md §2.1); " +
        'a key already proven is a 409 that does not say who holds it',
      tag: 'machines',
      auth: ['operator'],
      status: 201,
      body: z.object({ machine_npub: pubkey, wallet_id: walletId.optional(), ...machineFields }),
      response: machineShape,
    },
    async ({ body, user }) => {
      if (!body.wallet_id && !deps.ledger) {
        throw unprocessable('wallet_id is required with this payment backend', [
          { field: 'body.wallet_id', message: 'required' },
        ]);
      }
      if (body.wallet_id) {
        const problem = await walletProblem(deps, user.id, body.wallet_id, 'machine');
        if (problem) throw invalidField('body.wallet_id', problem);
      }
      try {
        // a new ledger wallet and the machine commit together: a refused machine leaves no wallet behind
        const m = await withTransaction(deps.pool, async (c) => {
          await lockMachineKey(c, body.machine_npub);
          await checkKeyFree(c, user.id, body.machine_npub, null);
          return insertMachine(c, {
            operator_user_id: user.id,
            machine_npub: toNpub(body.machine_npub),
            machine_pubkey_hex: body.machine_npub,
            wallet_id: body.wallet_id ?? (await insertWallet(c, user.id, `machine ${body.name}`)).id,
            name: body.name,
            location: body.location ?? null,
            fiat_code: body.fiat_code,
            operator_cash_in_fee_fraction: body.operator_cash_in_fee_fraction,
            operator_cash_out_fee_fraction: body.operator_cash_out_fee_fraction,
            distribution_delay_seconds: body.distribution_delay_seconds,
          });
        });
        return machineView(m, undefined);
      } catch (err) {
        throw uniqueViolation(err) ?? err;
      }
    },
  );

  r.add(
    {
      method: 'get',
      path: '/machines/:id',
      operationId: 'getMachine',
      summary: 'One machine',
      tag: 'machines',
      auth: ['operator'],
      params: idParams,
      response: machineShape,
    },
    async ({ params, user }) => {
      const m = await getOperatorMachine(deps.pool, user.id, params.id);
      if (!m) throw notFound(`machine ${params.id}`);
      const statuses = await machineStatuses(deps.pool, [m.id], STATUS_ONLINE_SECONDS);
      return machineView(m, statuses.get(m.id));
    },
  );

  r.add(
    {
      method: 'patch',
      path: '/machines/:id',
      operationId: 'updateMachine',
      summary: 'Change a machine (fields left out are kept)',
      tag: 'machines',
      auth: ['operator'],
      params: idParams,
      body: z
        .object({
          machine_npub: pubkey.optional(),
          wallet_id: walletId.optional(),
          name: machineFields.name.optional(),
          location: machineFields.location,
          fiat_code: fiatCode.optional(),
          is_active: z.boolean().optional(),
          operator_cash_in_fee_fraction: machineFields.operator_cash_in_fee_fraction,
          operator_cash_out_fee_fraction: machineFields.operator_cash_out_fee_fraction,
          distribution_delay_seconds: machineFields.distribution_delay_seconds,
        })
        .strict(),
      response: machineShape,
    },
    async ({ params, body, user }) => {
      const current = await getOperatorMachine(deps.pool, user.id, params.id);
      if (!current) throw notFound(`machine ${params.id}`);
      // a wallet is checked when it changes (a form sends the unchanged one back with every edit)
      if (body.wallet_id && body.wallet_id !== current.wallet_id) {
        const problem = await walletProblem(deps, user.id, body.wallet_id, 'machine');
        if (problem) throw invalidField('body.wallet_id', problem);
      }
      const { machine_npub, ...rest } = body;
      const patch = {
        ...rest,
        ...(machine_npub ? { machine_npub: toNpub(machine_npub), machine_pubkey_hex: machine_npub } : {}),
      };
      try {
        const m = await withTransaction(deps.pool, async (c) => {
          const keys = [
            ...new Set([current.machine_pubkey_hex, patch.machine_pubkey_hex ?? current.machine_pubkey_hex]),
          ];
          for (const k of keys.sort()) await lockMachineKey(c, k);
          const before = await getOperatorMachine(c, user.id, params.id);
          if (!before) throw notFound(`machine ${params.id}`);
          if (patch.fiat_code && patch.fiat_code !== before.fiat_code) {
            // the row lock holds off a deposit or settlement being inserted for this machine meanwhile
            // (their foreign key needs a share lock on it)
            await lockMachineRow(c, before.id);
            if (await machineHasMoneyRecords(c, before.id)) {
              throw conflict(
                `machine ${before.id} already has deposits or settlements in ${before.fiat_code}: its currency cannot change (balances would mix currencies); register a new machine for ${patch.fiat_code}`,
                [
                  {
                    field: 'body.fiat_code',
                    message: `cannot change from ${before.fiat_code}: deposits or settlements exist for this machine`,
                  },
                ],
              );
            }
          }
          if (patch.machine_pubkey_hex && patch.machine_pubkey_hex !== before.machine_pubkey_hex) {
            await checkKeyFree(c, user.id, patch.machine_pubkey_hex, before.id);
          }
          const after = await updateMachine(c, user.id, params.id, patch);
          if (!after) throw notFound(`machine ${params.id}`);
          // a changed key, a deactivation or a reactivation moves the key's proof
          return settleKeyStateAfterChange(c, before, after);
        });
        const statuses = await machineStatuses(deps.pool, [m.id], STATUS_ONLINE_SECONDS);
        return machineView(m, statuses.get(m.id));
      } catch (err) {
        throw uniqueViolation(err) ?? err;
      }
    },
  );

  r.add(
    {
      method: 'delete',
      path: '/machines/:id',
      operationId: 'deleteMachine',
      summary: 'Delete a machine that never moved money (else deactivate it)',
      tag: 'machines',
      auth: ['operator'],
      params: idParams,
      status: 204,
    },
    async ({ params, user }) => {
      const m = await getOperatorMachine(deps.pool, user.id, params.id);
      if (!m) throw notFound(`machine ${params.id}`);
      if (await machineHasHistory(deps.pool, m.id)) {
        throw conflict(
          'this machine has settlements, deposits or payments; deactivate it instead (PATCH {"is_active": false})',
        );
      }
      await withTransaction(deps.pool, async (c) => {
        await lockMachineKey(c, m.machine_pubkey_hex);
        const current = await getOperatorMachine(c, user.id, m.id);
        if (!current) return;
        await deleteMachine(c, user.id, m.id);
        // a deleted proven registration lets go of the key: the others are unverified again
        if (current.key_state === 'proven') await releaseMachineKey(c, m.machine_pubkey_hex, m.id);
      });
      return undefined;
    },
  );
}
