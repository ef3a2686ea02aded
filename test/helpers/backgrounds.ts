/**
 * Backgrounds for `scene.backgrounds` tests, made on the spot (no downloads): a flat-colour
 * Radiance .hdr (world light) and a flat-colour .jpg plate.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";

/** A flat-colour Radiance RGBE image (uncompressed scanlines, which every reader accepts). */
export function writeHdr(
  path: string,
  width: number,
  height: number,
  rgb: [number, number, number],
): void {
  const v = Math.max(...rgb);
  const exponent = Math.ceil(Math.log2(v) + 1e-9);
  const scale = 256 / 2 ** exponent;
  const pixel = [...rgb.map((c) => Math.min(255, Math.floor(c * scale))), exponent + 128];
  const header = Buffer.from(`#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y ${height} +X ${width}\n`);
  const body = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) body.set(pixel, i * 4);
  writeFileSync(path, Buffer.concat([header, body]));
}

/** A flat-colour JPEG plate. */
export async function writePlate(
  path: string,
  width: number,
  height: number,
  rgb: [number, number, number],
): Promise<void> {
  const [r, g, b] = rgb;
  await sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .jpeg()
    .toFile(path);
}

/** A folder's worth: a green HDRI (green.hdr) and a blue plate (blue.jpg). */
export async function writeBackgrounds(dir: string): Promise<void> {
  writeHdr(join(dir, "green.hdr"), 32, 16, [0.1, 0.9, 0.2]);
  await writePlate(join(dir, "blue.jpg"), 64, 48, [20, 40, 230]);
}
