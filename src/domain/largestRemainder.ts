/**
 * Splits `total` into integer parts proportional to `weights` (largest remainder,
 * Hamilton's method): every part is floor(total × w_i / W), then the leftover units
 * go one each to the largest remainders; ties go to the earlier index. The parts
 * always sum to `total` exactly, and part_i ≤ ceil(total × w_i / W).
 */
export function largestRemainder(total: bigint, weights: readonly bigint[]): bigint[] {
  if (total < 0n) throw new RangeError('total must be non-negative');
  const sum = weights.reduce((a, w) => {
    if (w < 0n) throw new RangeError('weights must be non-negative');
    return a + w;
  }, 0n);
  if (sum === 0n) {
    if (total !== 0n) throw new RangeError('cannot split a non-zero total over zero weights');
    return weights.map(() => 0n);
  }
  const parts: bigint[] = new Array<bigint>(weights.length);
  const remainders: bigint[] = new Array<bigint>(weights.length);
  let allocated = 0n;
  for (let i = 0; i < weights.length; i++) {
    const product = total * weights[i]!;
    parts[i] = product / sum;
    remainders[i] = product % sum;
    allocated += parts[i]!;
  }
  let leftover = total - allocated; // < weights.length
  if (leftover > 0n) {
    const order = weights.map((_, i) => i);
    order.sort((a, b) => {
      const ra = remainders[a]!;
      const rb = remainders[b]!;
      if (ra !== rb) return ra > rb ? -1 : 1;
      return a - b;
    });
    for (const i of order) {
      if (leftover === 0n) break;
      parts[i] = parts[i]! + 1n;
      leftover -= 1n;
    }
  }
  return parts;
}
