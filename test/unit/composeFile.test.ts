import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

describe('temporal-dev.yml', () => {
  const doc = parse(readFileSync(join(__dirname, '..', '..', 'temporal-dev.yml'), 'utf8')) as {
    services: Record<string, { image?: string; ports?: string[] }>;
  };

  it('is a Compose file with Temporal, PostgreSQL and the Temporal UI', () => {
    expect(Object.keys(doc.services).sort()).toEqual([
      'postgresql',
      'temporal',
      'temporal-search-attributes',
      'temporal-ui',
    ]);
    expect(doc.services.temporal!.ports).toContain('127.0.0.1:7233:7233');
    expect(doc.services['temporal-ui']!.ports).toContain('127.0.0.1:8233:8080');
  });

  it('registers the four search attributes', () => {
    const text = readFileSync(join(__dirname, '..', '..', 'temporal-dev.yml'), 'utf8');
    for (const sa of ['SettlementStatus', 'MachineId', 'OperatorId', 'TxType']) expect(text).toContain(sa);
  });
});
