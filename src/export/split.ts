/**
 * Train/val splits of a run's images, reproducible from a seed:
 *  - `character`: whole characters go to val (held-out identities),
 *  - `animation`: whole clips (by clip name, across characters) go to val (held-out motion),
 *  - `random`: single images.
 * round(val * groups) groups go to val, at least one when val > 0 and there are two groups or
 * more, never all of them (train keeps at least one). The groups are shuffled with a seeded
 * PRNG (mulberry32) after sorting, so the same run, split, share and seed give the same sets.
 */
export type SplitKind = "character" | "animation" | "random";

export interface SplitItem {
  character: string;
  clip: string;
  /** A key unique per image, e.g. its path. */
  key: string;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function groupOf(item: SplitItem, kind: SplitKind): string {
  if (kind === "character") return item.character;
  if (kind === "animation") return item.clip;
  return item.key;
}

/** The set of val group keys; every other item is train. */
export function chooseValGroups(
  items: SplitItem[],
  kind: SplitKind,
  val: number,
  seed: number,
): Set<string> {
  const groups = [...new Set(items.map((i) => groupOf(i, kind)))].sort();
  if (val <= 0 || groups.length < 2) return new Set();
  const random = mulberry32(seed);
  for (let i = groups.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [groups[i], groups[j]] = [groups[j]!, groups[i]!];
  }
  const count = Math.min(groups.length - 1, Math.max(1, Math.round(val * groups.length)));
  return new Set(groups.slice(0, count));
}

export function splitOf(item: SplitItem, kind: SplitKind, valGroups: Set<string>): "train" | "val" {
  return valGroups.has(groupOf(item, kind)) ? "val" : "train";
}
