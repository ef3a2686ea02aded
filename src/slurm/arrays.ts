/**
 * Array index lists for sbatch: `0-3,7,9-10` and the chunks a submission needs when a run
 * has more shards than the cluster's MaxArraySize allows as an index (it caps the index, not
 * the task count). A chunk's task `a` runs shard `offset + a`.
 */

/** `[0, 1, 2, 5, 7, 8]` -> `0-2,5,7-8` (sorted, duplicates dropped). */
export function formatIndexList(indexes: readonly number[]): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  let start = sorted[0];
  let end = start;
  for (const i of sorted.slice(1)) {
    if (end !== undefined && i === end + 1) {
      end = i;
      continue;
    }
    if (start !== undefined) parts.push(start === end ? `${start}` : `${start}-${end}`);
    start = i;
    end = i;
  }
  if (start !== undefined) parts.push(start === end ? `${start}` : `${start}-${end}`);
  return parts.join(",");
}

/** `0-2,5,7-8%2` -> [0, 1, 2, 5, 7, 8] (a `%M` throttle and `:step` are understood). */
export function parseIndexList(spec: string): number[] {
  const list = spec.replace(/%\d+$/, "");
  const out: number[] = [];
  for (const part of list.split(",")) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part.trim());
    if (!m) throw new Error(`not an array index list: ${spec}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    for (let i = from; i <= to; i += step) out.push(i);
  }
  return out;
}

export interface ArrayChunk {
  /** Added to SLURM_ARRAY_TASK_ID to get the shard index. */
  offset: number;
  /** Shard indexes this chunk runs. */
  shards: number[];
  /** The `--array=` value: indexes relative to `offset`, plus `%M` when throttled. */
  spec: string;
}

/**
 * One chunk per block of `maxArraySize` shard indexes: shard i goes to the chunk with offset
 * `floor(i / maxArraySize) * maxArraySize`, as index `i - offset` (always < maxArraySize).
 */
export function planArrayChunks(
  shards: readonly number[],
  maxArraySize: number,
  maxConcurrent?: number,
): ArrayChunk[] {
  if (!Number.isInteger(maxArraySize) || maxArraySize < 1) {
    throw new Error(`MaxArraySize must be a positive integer, got ${maxArraySize}`);
  }
  const byOffset = new Map<number, number[]>();
  for (const shard of [...new Set(shards)].sort((a, b) => a - b)) {
    if (!Number.isInteger(shard) || shard < 0) throw new Error(`invalid shard index ${shard}`);
    const offset = Math.floor(shard / maxArraySize) * maxArraySize;
    const list = byOffset.get(offset) ?? [];
    list.push(shard);
    byOffset.set(offset, list);
  }
  const throttle = maxConcurrent ? `%${maxConcurrent}` : "";
  return [...byOffset.entries()].map(([offset, list]) => ({
    offset,
    shards: list,
    spec: `${formatIndexList(list.map((s) => s - offset))}${throttle}`,
  }));
}
