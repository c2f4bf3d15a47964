/**
 * The LZMA2 compressor behind `--compression`: liblzma through the optional `lzma-native`
 * package, loaded only when compression is asked for.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { LZMA2_DICT_SIZE, LZMA2_LC, LZMA2_LP, LZMA2_PB, type Lzma2Compressor } from '../mcuboot/compress.ts';

interface LzmaStream {
  on(ev: 'data', cb: (c: Buffer) => void): void;
  on(ev: 'end', cb: () => void): void;
  on(ev: 'error', cb: (e: Error) => void): void;
  end(data: Uint8Array): void;
}
interface LzmaNative {
  createStream(kind: 'rawEncoder', o: { filters: { id: number; options?: Record<string, number> }[] }): LzmaStream;
  FILTER_LZMA2: number;
  FILTER_ARMTHUMB: number;
  MODE_NORMAL: number;
  MF_BT4: number;
}

export const liblzmaCompressor: Lzma2Compressor = async (data, armThumb) => {
  let lzma: LzmaNative;
  try {
    const name = 'lzma-native'; // not bundled: a native addon, loaded from node_modules
    const mod = (await import(name)) as { default?: LzmaNative } & LzmaNative;
    lzma = mod.default ?? mod;
  } catch (e) {
    throw new RseError('E_UNSUPPORTED', '--compression needs the optional package lzma-native (liblzma), which is not installed', {
      field: '--compression',
      cause: e,
    });
  }
  // liblzma's preset 9 (normal mode, nice_len 64, BT4, depth 0) with imgtool's overrides, all
  // given explicitly: lzma-native applies a `preset` after the other options and would undo them.
  const lzma2 = {
    id: lzma.FILTER_LZMA2,
    options: {
      dictSize: LZMA2_DICT_SIZE,
      lc: LZMA2_LC,
      lp: LZMA2_LP,
      pb: LZMA2_PB,
      mode: lzma.MODE_NORMAL,
      niceLen: 64,
      mf: lzma.MF_BT4,
      depth: 0,
    },
  };
  const filters = armThumb ? [{ id: lzma.FILTER_ARMTHUMB }, lzma2] : [lzma2];
  const stream = lzma.createStream('rawEncoder', { filters });
  return await new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', (e) => reject(new RseError('E_UNSUPPORTED', `liblzma failed: ${e.message}`, { field: '--compression', cause: e })));
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    stream.end(data);
  });
};
