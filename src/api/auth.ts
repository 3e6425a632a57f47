import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { apiError } from './errors';

/**
 * Who is calling. Bearer JWTs, HS256 with AUTH_JWT_SECRET, claims `sub`, `role`
 * and a mandatory `exp`. This file says who the caller is; what they may do
 * (roles per route, and whether they may touch a given subscription or refund,
 * decided against the stored document) is src/api/access.ts.
 */

export const ROLES = ['user', 'creator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Caller {
  sub: string;
  role: Role;
}

const MAX_SUB_LENGTH = 256;

function secretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Verifies the Authorization header; 401 with UNAUTHENTICATED, INVALID_TOKEN or TOKEN_EXPIRED otherwise. */
export async function authenticate(authorization: string | undefined, secret: string): Promise<Caller> {
  if (!authorization) throw apiError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
  const match = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization);
  if (!match) throw apiError('INVALID_TOKEN', 'the Authorization header must be "Bearer <token>"');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(match[1]!, secretKey(secret), { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw apiError('TOKEN_EXPIRED', 'the token has expired');
    throw apiError('INVALID_TOKEN', 'the token is invalid');
  }
  const { sub, role } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH) throw apiError('INVALID_TOKEN', 'the token\'s sub claim must be a non-empty string');
  if (!ROLES.includes(role as Role)) throw apiError('INVALID_TOKEN', `the token's role claim must be one of ${ROLES.join(', ')}`);
  return { sub, role: role as Role };
}

/** A lifetime: seconds, or a number with a unit (`30s`, `15m`, `1h`, `7d`). Negative seconds mint already-expired tokens (tests). */
export type TokenTtl = number | `${number}${'s' | 'm' | 'h' | 'd'}`;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

export function ttlSeconds(ttl: TokenTtl | string): number {
  if (typeof ttl === 'number') return ttl;
  const match = /^(-?\d+)([smhd])?$/.exec(ttl.trim());
  if (!match) throw new Error(`invalid ttl "${ttl}": use seconds or a number with s, m, h or d (e.g. 1h)`);
  return Number(match[1]) * UNIT_SECONDS[(match[2] ?? 's') as keyof typeof UNIT_SECONDS];
}

/** Mints a token the API accepts (`npm run token`, tests). */
export async function mintToken(secret: string, claims: Caller, ttl: TokenTtl | string = '1h'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: claims.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds(ttl))
    .sign(secretKey(secret));
}
