/**
 * Folder and key names for characters (and, in blender/posefactory_bpy/names.py, for clips):
 * a readable slug of letters, digits, `-`, `_` and `.`. Accents are dropped (é -> e), every
 * other run of characters becomes one `_`, runs of dots one dot, leading and trailing `.`/`_`
 * go. Names that then collide (also when they differ only in case: Windows and macOS folders)
 * get `-2`, `-3`, ... in the order given. The original name is kept as `displayName`.
 */
const MAX_LENGTH = 100;

export function slugName(name: string, fallback: string): string {
  const cleaned = name
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/\.{2,}/g, ".")
    .replace(/^[._]+|[._]+$/g, "")
    .slice(0, MAX_LENGTH)
    .replace(/[._]+$/, "");
  return cleaned || fallback;
}

/** Slugs for `names` in order, made unique (ignoring case) with `-2`, `-3`, ... */
export function uniqueSlugs(names: readonly string[], fallback: string): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const base = slugName(name, fallback);
    let candidate = base;
    for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = `${base}-${n}`;
    used.add(candidate.toLowerCase());
    return candidate;
  });
}
