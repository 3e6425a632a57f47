import type { ConnectionOptions } from '@temporalio/client';
import fs from 'node:fs';
import type { Config } from '../config';

/**
 * Options of the API's lazy Temporal connection (`Connection.lazy`), so the API
 * starts and answers /api/status while Temporal is down.
 * TODO(temporal owners): src/temporal/connection.ts builds the same TLS / API-key
 * options privately for its eager `connectClient`; exporting a `lazyClient(config)`
 * there would let this file go.
 */
export function temporalConnectionOptions(config: Config['temporal']): ConnectionOptions {
  const clientCertPair =
    config.tlsCertPath && config.tlsKeyPath ? { crt: fs.readFileSync(config.tlsCertPath), key: fs.readFileSync(config.tlsKeyPath) } : undefined;
  return {
    address: config.address,
    connectTimeout: 10_000,
    tls: config.tls ? { clientCertPair, serverNameOverride: config.tlsServerName } : undefined,
    apiKey: config.apiKey,
    metadata: config.apiKey ? { 'temporal-namespace': config.namespace } : undefined,
  };
}
