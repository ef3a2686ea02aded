/**
 * The person's mask of a render, as COCO wants it (binary, row-major): the `.mask.png` sibling
 * when the render wrote one (outputs.mask), else the alpha channel of the RGBA render. A pixel
 * belongs to the person when its alpha is at least half (anti-aliased edges split evenly).
 * COCO's `area` is the mask's pixel count; its `bbox` the mask's extent.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export interface Mask {
  width: number;
  height: number;
  /** 1 = person, 0 = not; row-major from the top-left. */
  data: Uint8Array;
}

/** renders/c/clip/view/f0001.png -> renders/c/clip/view/f0001.mask.png */
export function maskPathOf(imagePath: string): string {
  return imagePath.replace(/\.[^./]+$/, ".mask.png");
}

/**
 * The mask of one render (relative to runDir); undefined when the image has neither a mask
 * file nor an alpha channel (an opaque render: then no segment can be told from it).
 */
export async function readMask(runDir: string, imagePath: string): Promise<Mask | undefined> {
  const { default: sharp } = await import("sharp");
  const maskFile = join(runDir, maskPathOf(imagePath));
  if (existsSync(maskFile)) {
    const { data, info } = await sharp(maskFile)
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const out = new Uint8Array(info.width * info.height);
    for (let i = 0; i < out.length; i++) out[i] = data[i * info.channels]! >= 128 ? 1 : 0;
    return { width: info.width, height: info.height, data: out };
  }
  const image = sharp(join(runDir, imagePath));
  const meta = await image.metadata();
  if (!meta.hasAlpha) return undefined;
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(info.width * info.height);
  for (let i = 0; i < out.length; i++)
    out[i] = data[i * info.channels + info.channels - 1]! >= 128 ? 1 : 0;
  return { width: info.width, height: info.height, data: out };
}

export function maskArea(mask: Mask): number {
  let n = 0;
  for (const v of mask.data) n += v;
  return n;
}

/** COCO bbox [x, y, w, h] of the mask's pixels (pixel edges); [0, 0, 0, 0] when empty. */
export function maskBbox(mask: Mask): [number, number, number, number] {
  let x0 = mask.width;
  let y0 = mask.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (!mask.data[y * mask.width + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}
