import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import fs from 'node:fs';
import type { Config } from '../config';

type TemporalConfig = Config['temporal'];

/** TLS and API-key settings shared by the client (API) and native (worker) connections. */
function securityOptions(config: TemporalConfig): Pick<ConnectionOptions, 'tls' | 'metadata'> & { apiKey?: string } {
  const clientCertPair =
    config.tlsCertPath && config.tlsKeyPath ? { crt: fs.readFileSync(config.tlsCertPath), key: fs.readFileSync(config.tlsKeyPath) } : undefined;
  return {
    tls: config.tls ? { clientCertPair, serverNameOverride: config.tlsServerName } : undefined,
    apiKey: config.apiKey,
    metadata: config.apiKey ? { 'temporal-namespace': config.namespace } : undefined,
  };
}

export async function connectClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({ address: config.address, connectTimeout: 10_000, ...securityOptions(config) });
  return new Client({ connection, namespace: config.namespace });
}

export async function connectWorkerConnection(config: TemporalConfig): Promise<NativeConnection> {
  const security = securityOptions(config);
  const options: NativeConnectionOptions = { address: config.address, tls: security.tls, apiKey: security.apiKey, metadata: security.metadata };
  return NativeConnection.connect(options);
}
