/**
 * Cutting a run into shards for a Slurm array: whole (character, clip) units, balanced by
 * their cost (frames x cameras), at most `maxShards`. A pure function of its inputs, so the
 * same run always gets the same shards; the plan is recorded in run.json and `--resume`
 * reuses it rather than cutting again.
 */

export interface WorkUnit {
  character: string;
  /** The clip; null = every clip of the character (the config names none). */
  clip: string | null;
  /** frames x cameras (an estimate when the clip's length is unknown before rendering). */
  weight: number;
}

export interface Shard {
  index: number;
  units: { character: string; clip: string | null }[];
  weight: number;
}

/**
 * Longest-processing-time-first: units by weight (heaviest first, ties in input order), each
 * to the lightest shard so far (ties: the lowest index); then every shard lists its units in
 * input order. Never more shards than units, never an empty shard.
 */
export function planShards(units: readonly WorkUnit[], maxShards: number): Shard[] {
  if (!Number.isInteger(maxShards) || maxShards < 1) {
    throw new Error(`maxShards must be a positive integer, got ${maxShards}`);
  }
  const seen = new Set<string>();
  for (const u of units) {
    const key = `${u.character}\u0000${u.clip ?? ""}`;
    if (seen.has(key)) throw new Error(`unit ${u.character}/${u.clip ?? "*"} listed twice`);
    seen.add(key);
    if (!(u.weight > 0)) throw new Error(`unit ${u.character}/${u.clip ?? "*"} has no weight`);
  }
  const count = Math.min(maxShards, units.length);
  const bins = Array.from({ length: count }, () => ({ weight: 0, members: [] as number[] }));
  const order = units
    .map((u, i) => ({ u, i }))
    .sort((a, b) => b.u.weight - a.u.weight || a.i - b.i);
  for (const { u, i } of order) {
    let best = 0;
    for (let b = 1; b < bins.length; b++) if (bins[b]!.weight < bins[best]!.weight) best = b;
    bins[best]!.weight += u.weight;
    bins[best]!.members.push(i);
  }
  return bins.map((bin, index) => ({
    index,
    weight: bin.weight,
    units: bin.members
      .sort((a, b) => a - b)
      .map((i) => ({ character: units[i]!.character, clip: units[i]!.clip })),
  }));
}

/**
 * The run's units: each character x each configured clip (or the whole character when the
 * config names no clips: its clips are only known once Blender opens the file), weighted by
 * frames x cameras. `framesOf` gives a clip's frame count when it is known (a frame list, or
 * an earlier manifest); unknown counts weigh 1 frame each, so such units balance by count.
 */
export function planUnits(
  characters: readonly string[],
  clips: readonly string[],
  cameras: number,
  framesOf: (character: string, clip: string | null) => number | undefined,
): WorkUnit[] {
  const wanted = clips.length > 0 ? clips : [null];
  return characters.flatMap((character) =>
    wanted.map((clip) => ({
      character,
      clip,
      weight: Math.max(1, framesOf(character, clip) ?? 1) * Math.max(1, cameras),
    })),
  );
}
