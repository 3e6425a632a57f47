import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A JSON-RPC proxy in front of a real anvil, for the chain's bad days: a node
 * a block behind, a receipt not served yet, a refused broadcast, a frozen
 * endpoint. Everything not intercepted is passed through untouched (batches too).
 */
export interface RpcCall {
  method: string;
  params: unknown[];
}

/** What an interceptor decides: pass the call on, answer with a result, or answer with a JSON-RPC error. */
export type Interception = { pass: true } | { result: unknown } | { error: { code: number; message: string } };
export type Interceptor = (call: RpcCall, forward: (call: RpcCall) => Promise<unknown>) => Promise<Interception> | Interception;

export const PASS: Interception = { pass: true };

/** A node that, like geth by default, answers account state (nonce counts, balances) only for its last `kept` blocks ("missing trie node"). */
export function pruningState(kept: number): Interceptor {
  return async (call, forward) => {
    if (call.method !== 'eth_getTransactionCount' && call.method !== 'eth_getBalance') return PASS;
    const tag = call.params[1];
    if (typeof tag !== 'string' || !tag.startsWith('0x')) return PASS;
    const head = Number(await forward({ method: 'eth_blockNumber', params: [] }));
    return Number(tag) < head - kept + 1 ? { error: { code: -32000, message: 'missing trie node (state is not available)' } } : PASS;
  };
}

export interface RpcProxy {
  url: string;
  /** Calls seen, by method (intercepted or not). */
  counts: Map<string, number>;
  intercept(interceptor: Interceptor | null): void;
  /** While frozen, requests hang until thawed (like a SIGSTOPped node). */
  freeze(frozen: boolean): void;
  close(): Promise<void>;
}

export async function startRpcProxy(upstream: string): Promise<RpcProxy> {
  let interceptor: Interceptor | null = null;
  let frozen = false;
  const waiting: (() => void)[] = [];
  const counts = new Map<string, number>();

  const forward = async (call: RpcCall): Promise<unknown> => {
    const response = await fetch(upstream, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...call }) });
    const body = (await response.json()) as { result?: unknown; error?: { code: number; message: string } };
    if (body.error) throw Object.assign(new Error(body.error.message), { rpcError: body.error });
    return body.result;
  };

  const answer = async (request: { id: unknown; method: string; params?: unknown[] }) => {
    const call = { method: request.method, params: request.params ?? [] };
    counts.set(call.method, (counts.get(call.method) ?? 0) + 1);
    const decided = interceptor ? await interceptor(call, forward) : PASS;
    if ('result' in decided) return { jsonrpc: '2.0', id: request.id, result: decided.result };
    if ('error' in decided) return { jsonrpc: '2.0', id: request.id, error: decided.error };
    try {
      return { jsonrpc: '2.0', id: request.id, result: await forward(call) };
    } catch (error) {
      const rpcError = (error as { rpcError?: { code: number; message: string } }).rpcError ?? { code: -32603, message: (error as Error).message };
      return { jsonrpc: '2.0', id: request.id, error: rpcError };
    }
  };

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', async () => {
      if (frozen) await new Promise<void>((resolve) => waiting.push(resolve));
      const parsed = JSON.parse(raw) as unknown;
      const body = Array.isArray(parsed) ? await Promise.all(parsed.map(answer)) : await answer(parsed as { id: unknown; method: string; params?: unknown[] });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    intercept(next) {
      interceptor = next;
    },
    freeze(next) {
      frozen = next;
      if (!next) for (const resume of waiting.splice(0)) resume();
    },
    async close() {
      frozen = false;
      for (const resume of waiting.splice(0)) resume();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
