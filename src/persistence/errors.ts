/** MongoDB's duplicate key error: a unique insert lost to an existing document. */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: number } | null)?.code === 11000;
}
