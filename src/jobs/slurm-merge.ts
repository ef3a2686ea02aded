/**
 * Merging the shards of a Slurm run into one run: one manifest.json, one annotations.json
 * per character, one sha256sums.txt, exactly as a single host would have written them. The
 * images themselves never move: every unit is a whole (character, clip), so each shard's
 * renders/<character>/<clip>/ lands in the run's own layout; only the small per-shard files
 * under shards/<i>/ are merged here.
 *
 * Order (and so COCO image ids) is canonical: characters in the run's order, clips in the
 * config's `clips` order (else as the shards list them), each clip's images as rendered.
 * The ids therefore do not depend on how the run was cut.
 */
import type { Annotations } from "../detect/schema.js";
import type { Manifest } from "../render/manifest.js";

type CharacterResult = Manifest["characters"][number];

function clipRank(order: readonly string[]): (clip: string) => number {
  return (clip) => {
    const i = order.indexOf(clip);
    return i < 0 ? order.length : i;
  };
}

function stableSortBy<T>(items: readonly T[], rank: (item: T) => number): T[] {
  return items
    .map((item, i) => ({ item, i, r: rank(item) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.item);
}

/** The shards' manifests (any order) -> the run's manifest. */
export function mergeManifests(
  runId: string,
  shards: readonly Manifest[],
  options: { characters: readonly string[]; clips: readonly string[] },
): Manifest {
  const first = shards[0];
  if (!first) throw new Error("no shard manifest to merge");
  const rank = clipRank(options.clips);
  const parts = new Map<string, CharacterResult[]>();
  for (const m of shards)
    for (const c of m.characters) parts.set(c.name, [...(parts.get(c.name) ?? []), c]);
  const names = [
    ...options.characters.filter((n) => parts.has(n)),
    ...[...parts.keys()].filter((n) => !options.characters.includes(n)),
  ];
  const characters = names.map((name): CharacterResult => {
    const list = parts.get(name) ?? [];
    const [head] = list;
    if (!head) throw new Error(`no result for ${name}`);
    if (list.length === 1) return head;
    const errors = list.flatMap((c) => (c.error ? [c.error] : []));
    const warnings = list.flatMap((c) => c.warnings ?? []);
    const merged: CharacterResult = {
      ...head,
      status: list.every((c) => c.status === "ok") ? "ok" : "failed",
      seconds: {
        import: list.reduce((s, c) => s + c.seconds.import, 0),
        bbox: list.reduce((s, c) => s + c.seconds.bbox, 0),
        cameras: list.reduce((s, c) => s + c.seconds.cameras, 0),
        render: list.reduce((s, c) => s + c.seconds.render, 0),
      },
      clips: stableSortBy(
        list.flatMap((c) => c.clips),
        (clip) => rank(clip.name),
      ),
      images: stableSortBy(
        list.flatMap((c) => c.images),
        (image) => rank(image.clip),
      ),
      annotations: list.find((c) => c.annotations)?.annotations ?? head.annotations,
    };
    if (errors.length > 0) merged.error = errors.join("; ");
    else delete merged.error;
    if (warnings.length > 0) merged.warnings = warnings;
    return merged;
  });
  return {
    version: 1,
    runId,
    blenderVersion: first.blenderVersion,
    device: first.device,
    characters,
  };
}

/**
 * One character's annotations.json from its shards' (each a subset of its clips): images in
 * canonical clip order, numbered 1..n, each annotation following its image.
 */
export function mergeAnnotations(
  docs: readonly Annotations[],
  options: { clips: readonly string[] },
): Annotations {
  const first = docs[0];
  if (!first) throw new Error("no annotations to merge");
  if (docs.length === 1) return first;
  const rank = clipRank(options.clips);
  const entries = docs.flatMap((doc, d) =>
    doc.images.map((image) => ({
      image,
      annotations: doc.annotations.filter((a) => a.image_id === image.id),
      clip: String((image as { clip?: unknown }).clip ?? ""),
      d,
    })),
  );
  const sorted = stableSortBy(entries, (e) => rank(e.clip));
  const images: Annotations["images"] = [];
  const annotations: Annotations["annotations"] = [];
  for (const entry of sorted) {
    const id = images.length + 1;
    images.push({ ...entry.image, id });
    for (const a of entry.annotations)
      annotations.push({ ...a, id: annotations.length + 1, image_id: id });
  }
  return { ...first, images, annotations };
}

/** sha256sum lines of every shard, one line per path (sorted like `find | sort`). */
export function mergeChecksums(
  texts: readonly string[],
  replace: Record<string, string> = {},
): string {
  const byPath = new Map<string, string>();
  for (const text of texts) {
    for (const line of text.split("\n")) {
      const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
      if (m?.[1] && m[2]) byPath.set(m[2], m[1]);
    }
  }
  for (const [path, hash] of Object.entries(replace)) byPath.set(path, hash);
  return [...byPath.keys()]
    .sort()
    .map((path) => `${byPath.get(path)}  ${path}\n`)
    .join("");
}
