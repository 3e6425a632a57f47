/** MongoDB's duplicate key error: a unique insert lost to an existing document. */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: number } | null)?.code === 11000;
}

/**
 * Runs a unique insert and returns what it returned, or null when it lost to
 * an existing document with the same key: the writes that rely on unique keys
 * to happen once treat that as "already there". Any other error is thrown.
 */
export async function createUnlessExists<T>(insert: () => Promise<T>): Promise<T | null> {
  try {
    return await insert();
  } catch (error) {
    if (isDuplicateKey(error)) return null;
    throw error;
  }
}
