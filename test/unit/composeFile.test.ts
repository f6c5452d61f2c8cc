import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../src/contract';
import { ROOT, loadCompose } from '../helpers/deployFiles';

describe('temporal-dev.yml', () => {
  const { services, text } = loadCompose(join(ROOT, 'temporal-dev.yml'));

  it('is a Compose file with Temporal, PostgreSQL and the Temporal UI, without auto-setup', () => {
    expect(Object.keys(services).sort()).toEqual([
      'postgresql',
      'temporal',
      'temporal-schema',
      'temporal-setup',
      'temporal-ui',
    ]);
    expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
    expect(text).not.toContain('auto-setup');
    expect(services.temporal!.ports).toContain('127.0.0.1:7233:7233');
    expect(services['temporal-ui']!.ports).toContain('127.0.0.1:8233:8080');
    expect(services.temporal!.depends_on!['temporal-schema']!.condition).toBe(
      'service_completed_successfully',
    );
    expect(services['temporal-schema']!.depends_on!.postgresql!.condition).toBe('service_healthy');
  });

  it('sets up the schema and registers the search attributes with the production scripts', () => {
    for (const s of Object.values(services))
      for (const v of s.volumes ?? []) {
        if (!v.startsWith('.')) continue;
        expect({ v, exists: existsSync(resolve(ROOT, v.split(':')[0]!)) }).toEqual({ v, exists: true });
      }
    expect(services['temporal-setup']!.volumes!.join(' ')).toContain('deploy/temporal/setup-namespace.sh');
    expect(services['temporal-schema']!.volumes!.join(' ')).toContain('deploy/temporal/setup-schema.sh');
    expect(SEARCH_ATTRIBUTES.map((s) => s.name).sort()).toEqual(
      ['MachineId', 'OperatorId', 'SettlementStatus', 'TxType'].sort(),
    );
  });
});
