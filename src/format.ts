/** Small formatting helpers shared by every layer (like errors.ts, this imports nothing). */

/** 1536 -> "1.5 KiB"; binary units, as GPU limits are powers of two. */
export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
