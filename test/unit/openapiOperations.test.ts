import { z } from 'zod';
import { apiDocument } from '../../scripts/openapiDocument';
import { buildOpenApi, OPERATION_ID } from '../../src/api/openapi';
import type { DocumentedRoute } from '../../src/api/routeRegistry';

type Operation = { operationId?: string; responses: Record<string, unknown> };

const doc = apiDocument();
const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops as Record<string, Operation>).map(([method, op]) => ({ path, method, op })),
);

function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

const route = (operationId: string, path = '/x'): DocumentedRoute => ({
  spec: { method: 'get', path, operationId, summary: 's', tag: 't', auth: 'any' },
});

describe('OpenAPI document for integrators', () => {
  it('every operation has a unique camelCase operationId', () => {
    expect(operations.length).toBeGreaterThan(50);
    const missing = operations.filter(({ op }) => !op.operationId || !OPERATION_ID.test(op.operationId));
    expect(missing.map(({ method, path }) => `${method} ${path}`)).toEqual([]);
    const ids = operations.map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('refuses a duplicate or non-camelCase operationId when the document is built', () => {
    expect(() => buildOpenApi([route('listThings'), route('listThings', '/y')], '', '1')).toThrow(
      /GET \/y has operationId "listThings", already used by another route/,
    );
    expect(() => buildOpenApi([route('list-things')], '', '1')).toThrow(/not camelCase/);
    expect(() => buildOpenApi([route('')], '', '1')).toThrow(/not camelCase/);
  });

  it('names the reusable schemas as components and references them from the operations', () => {
    const schemas = doc.components.schemas as Record<string, unknown>;
    for (const name of [
      'Error',
      'Machine',
      'Settlement',
      'SettlementLeg',
      'Client',
      'Deposit',
      'User',
      'ApiKey',
    ]) {
      expect(schemas[name]).toBeDefined();
    }
    const listMachines = operations.find(({ op }) => op.operationId === 'listMachines')!.op;
    expect(refs(listMachines.responses['200'])).toEqual(['#/components/schemas/Machine']);
    // every reference resolves to a component; no zod-local $defs are left behind
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(operations.length);
    for (const ref of all) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(schemas[ref.slice('#/components/schemas/'.length)]).toBeDefined();
    }
    expect(JSON.stringify(doc)).not.toContain('$defs');
  });

  it('refuses two different schemas under one component name', () => {
    const a = z.object({ a: z.string() }).meta({ id: 'OpenApiTestClash' });
    const b = z.object({ b: z.number() }).meta({ id: 'OpenApiTestClash' });
    const withResponse = (operationId: string, response: z.ZodType): DocumentedRoute => ({
      spec: { ...route(operationId).spec, path: `/${operationId}`, response },
    });
    expect(() => buildOpenApi([withResponse('getA', a), withResponse('getB', b)], '', '1')).toThrow(
      /two different schemas are named "OpenApiTestClash"/,
    );
  });
});
