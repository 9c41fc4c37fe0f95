// Event ids on a call feed. They increase per call, but their form depends on the bus:
// the in-process bus counts ("17"), the Redis bus uses stream ids ("1716460000000-3").
// The overlay only needs to order them, so compare either form without assuming which.

function parts(id) {
  return String(id).split("-").map((s) => (/^\d+$/.test(s) ? BigInt(s) : 0n));
}

/** -1, 0 or 1 as `a` is before, the same as, or after `b`. */
export function compareIds(a, b) {
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0n;
    const y = pb[i] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
