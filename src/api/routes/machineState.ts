import { z } from 'zod';
import { D_CASSETTES_PREFIX, KIND_APP_DATA } from '../../contract';
import { getCassette, listCassettes, updateCassette, type CassetteRow } from '../../db/cassettes';
import { getOperatorMachine, type MachineRow } from '../../db/machines';
import { getTelemetry, machineStatuses } from '../../db/telemetry';
import { machineStatsSince } from '../../db/settlements';
import { formatCents, parseCents } from '../../domain/decimal';
import { getUser } from '../../db/users';
import { denominationRefusal } from '../../domain/machineEvents';
import { encryptFor, signEvent } from '../../nostr/codec';
import { publishToRelays } from '../../nostr/relayClient';
import type { ApiDeps } from '../deps';
import { conflict, notFound, unprocessable } from '../errors';
import type { RouteRegistry } from '../routeRegistry';
import { idParams } from '../schemas';
import { machineStatusShape } from './machines';
import { sealedColumns } from '../../security/secretBox';

const ONLINE_SECONDS = 180;
const lastPublished = new Map<string, number>();

function parsedOrRaw(text: string | null): { parsed: unknown; raw: string | null } {
  if (text === null) return { parsed: null, raw: null };
  try {
    return { parsed: JSON.parse(text), raw: null };
  } catch {
    return { parsed: null, raw: text };
  }
}

const json = (text: string | null) => parsedOrRaw(text).parsed ?? text;

const cassetteShape = z
  .object({
    position: z.number().int(),
    denomination: z.number().int(),
    count: z.number().int(),
    updated_at: z.string(),
    updated_by: z.string().nullable(),
    reported: z.object({
      denomination: z.number().int().nullable(),
      count: z.number().int().nullable(),
      at: z.string().nullable(),
      event_id: z.string().nullable(),
    }),
    differs: z.boolean(),
    differences: z.array(z.string()),
  })
  .meta({ id: 'Cassette' });

function cassetteView(c: CassetteRow) {
  const differences: string[] = [];
  if (c.state_denomination !== null && c.state_denomination !== c.denomination) {
    differences.push(`denomination: operator ${c.denomination}, machine ${c.state_denomination}`);
  }
  if (c.state_count !== null && c.state_count !== c.count)
    differences.push(`count: operator ${c.count}, machine ${c.state_count}`);
  return {
    position: c.position,
    denomination: c.denomination,
    count: c.count,
    updated_at: c.updated_at.toISOString(),
    updated_by: c.updated_by,
    reported: {
      denomination: c.state_denomination,
      count: c.state_count,
      at: c.state_at ? c.state_at.toISOString() : null,
      event_id: c.state_event_id,
    },
    differs: differences.length > 0,
    differences,
  };
}

export function machineStateRoutes(r: RouteRegistry, deps: ApiDeps): void {
  const machineOf = async (operatorId: string, id: string): Promise<MachineRow> => {
    const m = await getOperatorMachine(deps.pool, operatorId, id);
    if (!m) throw notFound(`machine ${id}`);
    return m;
  };

  r.add(
    {
      method: 'get',
      path: '/machines/:id/telemetry',
      operationId: 'listMachineTelemetry',
      summary: 'Live status, the last beacon (absent fields keep their last value) and the fleet snapshot',
      tag: 'telemetry',
      auth: ['operator'],
      params: idParams,
      response: z.object({
        machine_id: z.string(),
        status: machineStatusShape,
        beacon: z.record(z.string(), z.unknown()).nullable(),
        beacon_received_at: z.string().nullable(),
        fleet: z
          .object({ received_at: z.string().nullable(), data: z.unknown(), raw: z.string().nullable() })
          .nullable(),
      }),
    },
    async ({ params, user }) => {
      const m = await machineOf(user.id, params.id);
      const t = await getTelemetry(deps.pool, m.id);
      const status = (await machineStatuses(deps.pool, [m.id], ONLINE_SECONDS)).get(m.id)!;
      const fleet =
        t?.telemetry_json !== null && t?.telemetry_json !== undefined ? parsedOrRaw(t.telemetry_json) : null;
      return {
        machine_id: m.id,
        status,
        beacon: t?.beacon_received_at
          ? {
              cash_in: t.beacon_cash_in,
              cash_out: t.beacon_cash_out,
              cash_level: t.beacon_cash_level,
              fiat: t.beacon_fiat,
              model: t.beacon_model,
              name: t.beacon_name,
              location: t.beacon_location,
              geo: json(t.beacon_geo),
              fees: json(t.beacon_fees_json),
              limits: json(t.beacon_limits_json),
              denominations: json(t.beacon_denominations_json),
              version: t.beacon_version,
              event_id: t.beacon_event_id,
              event_created_at: t.beacon_event_created_at?.toISOString() ?? null,
            }
          : null,
        beacon_received_at: t?.beacon_received_at?.toISOString() ?? null,
        fleet: fleet
          ? {
              received_at: t?.telemetry_received_at?.toISOString() ?? null,
              data: fleet.parsed,
              raw: fleet.raw,
            }
          : null,
      };
    },
  );

  r.add(
    {
      method: 'get',
      path: '/machines/:id/stats',
      operationId: 'getMachineStats',
      summary:
        "A machine's settlements since a time (e.g. the start of the operator's day): count, needing attention, fiat volume",
      tag: 'machines',
      auth: ['operator'],
      params: idParams,
      query: z.object({
        since: z.iso.datetime({ offset: true }).describe('ISO 8601 time; the client picks its own day start'),
      }),
      response: z.object({
        machine_id: z.string(),
        since: z.string(),
        currency: z.string(),
        settlements: z.number().int(),
        attention: z.number().int().describe('errored or rejected'),
        volume: z.object({ total: z.string(), cash_out: z.string(), cash_in: z.string() }),
      }),
    },
    async ({ params, query, user }) => {
      const m = await machineOf(user.id, params.id);
      const since = new Date(query.since);
      const s = await machineStatsSince(deps.pool, m.id, since);
      return {
        machine_id: m.id,
        since: since.toISOString(),
        currency: m.fiat_code,
        settlements: s.settlements,
        attention: s.attention,
        volume: {
          total: formatCents(parseCents(s.volume_cash_out) + parseCents(s.volume_cash_in)),
          cash_out: s.volume_cash_out,
          cash_in: s.volume_cash_in,
        },
      };
    },
  );

  r.add(
    {
      method: 'get',
      path: '/machines/:id/cassettes',
      operationId: 'listMachineCassettes',
      summary:
        'Cassettes: the operator view and what the machine reported, side by side, differences flagged',
      tag: 'cassettes',
      auth: ['operator'],
      params: idParams,
      response: z.object({
        machine_id: z.string(),
        fiat_code: z.string(),
        positions: z.array(cassetteShape),
        differs: z.boolean(),
      }),
    },
    async ({ params, user }) => {
      const m = await machineOf(user.id, params.id);
      const positions = (await listCassettes(deps.pool, m.id)).map(cassetteView);
      return {
        machine_id: m.id,
        fiat_code: m.fiat_code,
        positions,
        differs: positions.some((p) => p.differs),
      };
    },
  );

  r.add(
    {
      method: 'patch',
      path: '/machines/:id/cassettes/:position',
      operationId: 'updateMachineCassette',
      summary: 'Edit the denomination or count of an existing position (positions come from the machine)',
      tag: 'cassettes',
      auth: ['operator'],
      params: z.object({ id: idParams.shape.id, position: z.coerce.number().int().min(1).max(999) }),
      body: z
        .object({
          denomination: z.number().int().positive().max(2_147_483_647).optional(),
          count: z.number().int().min(0).max(2_147_483_647).optional(),
        })
        .strict()
        .refine(
          (b) => b.denomination !== undefined || b.count !== undefined,
          'give denomination and/or count',
        ),
      response: cassetteShape,
    },
    async ({ params, body, user }) => {
      const m = await machineOf(user.id, params.id);
      if (!(await getCassette(deps.pool, m.id, params.position))) {
        throw notFound(
          `cassette position ${params.position} on machine ${m.id} (positions come from the machine's state event)`,
        );
      }
      if (body.denomination !== undefined) {
        const refusal = denominationRefusal(m.fiat_code, body.denomination);
        if (refusal) throw unprocessable(refusal, [{ field: 'body.denomination', message: refusal }]);
      }
      return cassetteView((await updateCassette(deps.pool, m.id, params.position, body, user.id))!);
    },
  );

  r.add(
    {
      method: 'post',
      path: '/machines/:id/cassettes/publish',
      operationId: 'publishMachineCassettes',
      summary:
        'Sign the cassette configuration with the operator key and publish it to the machine (kind 30078, encrypted)',
      tag: 'cassettes',
      auth: ['operator'],
      params: idParams,
      response: z.object({
        event_id: z.string(),
        d: z.string(),
        positions: z.record(z.string(), z.object({ denomination: z.number(), count: z.number() })),
        relays: z.array(z.object({ relay: z.string(), accepted: z.boolean(), message: z.string() })),
        accepted_by: z.number().int(),
      }),
    },
    async ({ params, user }) => {
      const m = await machineOf(user.id, params.id);
      const rows = await listCassettes(deps.pool, m.id);
      if (!rows.length) throw conflict('this machine has reported no cassettes yet: nothing to publish');
      const operator = await getUser(deps.pool, user.id);
      if (!operator?.nostr_secret_enc) throw conflict('no Nostr key is held for this operator');
      const secret = deps.secretBox.open(
        operator.nostr_secret_enc,
        sealedColumns.operatorNostrSecret(operator.id),
      );
      const positions = Object.fromEntries(
        rows.map((c) => [String(c.position), { denomination: c.denomination, count: c.count }]),
      );
      const d = `${D_CASSETTES_PREFIX}${m.machine_npub}`;
      // replaceable: the machine keeps the newest created_at, so two publishes in one second
      // must not tie (seconds, strictly increasing per machine within this API process)
      const createdAt = Math.max(Math.floor(Date.now() / 1000), (lastPublished.get(m.id) ?? 0) + 1);
      lastPublished.set(m.id, createdAt);
      const event = signEvent(secret, {
        kind: KIND_APP_DATA,
        tags: [
          ['d', d],
          ['p', m.machine_pubkey_hex],
        ],
        content: encryptFor(secret, m.machine_pubkey_hex, JSON.stringify({ positions })),
        created_at: createdAt,
      });
      const relays = await publishToRelays(deps.config.relays, event, deps.logger);
      return {
        event_id: event.id,
        d,
        positions,
        relays,
        accepted_by: relays.filter((x) => x.accepted).length,
      };
    },
  );
}
