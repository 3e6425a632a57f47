import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import fs from 'node:fs';
import type { Config } from '../config';

type TemporalConfig = Config['temporal'];

/** Address, TLS (mTLS client certificate) and API-key settings, shared by every connection to Temporal. */
export function temporalConnectionOptions(config: TemporalConfig): ConnectionOptions & { apiKey?: string } {
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

export async function connectClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect(temporalConnectionOptions(config));
  return new Client({ connection, namespace: config.namespace });
}

/** A client whose connection opens on first use, so a process can start (and report) while Temporal is down. */
export function lazyClient(config: TemporalConfig): Client {
  return new Client({ connection: Connection.lazy(temporalConnectionOptions(config)), namespace: config.namespace });
}

export async function connectWorkerConnection(config: TemporalConfig): Promise<NativeConnection> {
  const { address, tls, apiKey, metadata } = temporalConnectionOptions(config);
  return NativeConnection.connect({ address, tls, apiKey, metadata });
}
