import { Client, Connection } from '@temporalio/client';

export interface TemporalTarget {
  address: string;
  namespace: string;
}

/**
 * A client whose connection is made on first use and re-made by the SDK after a
 * server restart, so a process can start before Temporal is up.
 */
export function lazyTemporalClient(t: TemporalTarget): Client {
  const connection = Connection.lazy({ address: t.address });
  return new Client({ connection, namespace: t.namespace });
}

/** Whether the Temporal frontend answers within `timeoutMs`. */
export async function temporalReachable(client: Client, timeoutMs = 2000): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () =>
      client.workflowService.getSystemInfo({}),
    );
    return true;
  } catch {
    return false;
  }
}
