/**
 * COCO run-length encoding of a binary mask, as pycocotools' maskApi.c writes it:
 *  - runs over the pixels in column-major order (down each column, left to right), alternating
 *    0s and 1s and starting with a run of 0s (which may be empty);
 *  - compressed: each count (from the fourth on, minus the count two before it) as a signed
 *    little-endian base-32 number, 5 bits a character, bit 0x20 = "more follows", + 48 (ASCII).
 * `segmentation: {size: [height, width], counts: "<string>"}` is what COCO files hold.
 */
import type { Mask } from "../detect/mask.js";

/** Uncompressed RLE counts (column-major, first run = zeros). */
export function encodeRleCounts(mask: Mask): number[] {
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < mask.width; x++) {
    for (let y = 0; y < mask.height; y++) {
      const value = mask.data[y * mask.width + x] ? 1 : 0;
      if (value !== current) {
        counts.push(run);
        run = 0;
        current = value;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** pycocotools' rleToString: the compressed `counts` string. */
export function compressRleCounts(counts: number[]): string {
  let out = "";
  counts.forEach((count, i) => {
    let x = i > 2 ? count - counts[i - 2]! : count;
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5; // arithmetic shift: negative differences end at -1
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  });
  return out;
}

/** pycocotools' rleFrString: counts back from the compressed string (for tests and checks). */
export function decompressRleCounts(text: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      const c = text.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2]!;
    counts.push(x);
  }
  return counts;
}

export interface CocoRle {
  size: [number, number];
  counts: string;
}

export function encodeRle(mask: Mask): CocoRle {
  return { size: [mask.height, mask.width], counts: compressRleCounts(encodeRleCounts(mask)) };
}
