import { z } from 'zod';
import type { DocumentedRoute } from './routeRegistry';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
  },
};

/** `operationId`s are camelCase words: what generated clients name their methods. */
export const OPERATION_ID = /^[a-z][a-zA-Z0-9]*$/;

/**
 * Converts zod schemas to JSON Schema for the document. A schema named with
 * `.meta({ id: 'Machine' })` (zod's global registry) becomes the reusable component
 * `#/components/schemas/Machine`, referenced wherever it occurs; two different
 * schemas under one name are refused, so a name always means one shape.
 */
class SchemaConverter {
  readonly components: Record<string, Record<string, unknown>> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
    const s = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
    delete s.$schema;
    const defs = (s.$defs ?? {}) as Record<string, Record<string, unknown>>;
    delete s.$defs;
    for (const [name, def] of Object.entries(defs)) {
      const body = toComponentRefs(def) as Record<string, unknown>;
      const known = this.components[name];
      if (known && JSON.stringify(known) !== JSON.stringify(body)) {
        throw new Error(
          `OpenAPI: two different schemas are named "${name}" (or it differs between request and response): give each its own .meta({ id })`,
        );
      }
      this.components[name] = body;
    }
    return toComponentRefs(s) as Record<string, unknown>;
  }
}

/** zod writes references to named schemas as #/$defs/X; OpenAPI keeps them in components. */
function toComponentRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toComponentRefs);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')
        ? `#/components/schemas/${v.slice('#/$defs/'.length)}`
        : toComponentRefs(v);
  }
  return out;
}

/** OpenAPI 3.1 document generated from the zod schemas that validate each route. */
export function buildOpenApi(routes: readonly DocumentedRoute[], basePath: string, version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas = new SchemaConverter();
  const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => schemas.convert(schema, io);
  const operationIds = new Set<string>();
  for (const { spec } of routes) {
    if (!OPERATION_ID.test(spec.operationId) || operationIds.has(spec.operationId)) {
      throw new Error(
        `OpenAPI: ${spec.method.toUpperCase()} ${spec.path} has operationId "${spec.operationId}", ` +
          (operationIds.has(spec.operationId) ? 'already used by another route' : 'which is not camelCase'),
      );
    }
    operationIds.add(spec.operationId);
    const path = basePath + spec.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', spec.params],
      ['query', spec.query],
    ] as const) {
      if (!schema) continue;
      const js = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          schema: s,
        });
      }
    }
    const responses: Record<string, unknown> = {
      [String(spec.status ?? 200)]: {
        description: 'success',
        ...(spec.response
          ? {
              content: {
                [spec.produces ?? 'application/json']: { schema: jsonSchema(spec.response, 'output') },
              },
            }
          : {}),
      },
      default: {
        description: 'error',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    };
    (paths[path] ??= {})[spec.method] = {
      operationId: spec.operationId,
      summary: spec.summary,
      tags: [spec.tag],
      ...(spec.auth === 'public' ? { security: [] } : {}),
      ...(spec.auth !== 'public' && spec.auth !== 'any' ? { 'x-roles': spec.auth } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(spec.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'satmachine API',
      version,
      description:
        'Back office for a fleet of Lightning Bitcoin ATMs. Authenticate with `Authorization: Bearer <api key>` ' +
        'or NIP-98 (`Authorization: Nostr <base64 kind-27235 event>`). Errors are `{"error": {code, message, details}}`.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { nip98: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        nip98: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            "Nostr <base64 kind-27235 event>: tags u = the server's PUBLIC_URL + path and query (the Host header is " +
            'not consulted), method, and payload = sha256 hex of the body when there is one; created_at within 60 s; each event once',
        },
      },
      schemas: { Error: errorSchema, ...sortedKeys(schemas.components) },
    },
    paths,
  };
}

function sortedKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
