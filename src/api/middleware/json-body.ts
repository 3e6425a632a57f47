import type { Middleware } from 'koa';
import type { ApiState } from '../context';
import { apiError } from '../errors';

export const BODY_LIMIT_BYTES = 16 * 1024;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Reads a JSON body into ctx.state.body: at most 16 KiB (413 PAYLOAD_TOO_LARGE),
 * only as application/json (415), and valid JSON (400 MALFORMED_JSON). A request
 * without a body leaves ctx.state.body undefined.
 */
export function jsonBody(limit = BODY_LIMIT_BYTES): Middleware<ApiState> {
  return async (ctx, next) => {
    if (METHODS_WITH_BODY.has(ctx.method) && hasBody(ctx.get('content-length'), ctx.get('transfer-encoding'))) {
      if (!ctx.request.is('application/json', '+json')) {
        throw apiError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
      }
      const text = await readText(ctx.req, limit, () => ctx.set('Connection', 'close'));
      if (text.length > 0) {
        try {
          ctx.state.body = JSON.parse(text) as unknown;
        } catch {
          throw apiError('MALFORMED_JSON', 'the body is not valid JSON');
        }
      }
    }
    await next();
  };
}

function hasBody(contentLength: string, transferEncoding: string): boolean {
  return transferEncoding !== '' || (contentLength !== '' && contentLength !== '0');
}

async function readText(stream: AsyncIterable<Buffer>, limit: number, onTooLarge: () => void): Promise<string> {
  const tooLarge = () => {
    onTooLarge(); // the rest of the body is not read: do not keep the connection for another request
    return apiError('PAYLOAD_TOO_LARGE', `the body must not exceed ${limit} bytes`);
  };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
