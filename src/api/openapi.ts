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

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

/** OpenAPI 3.1 document generated from the zod schemas that validate each route. */
export function buildOpenApi(routes: readonly DocumentedRoute[], basePath: string, version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { spec } of routes) {
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
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
