import { randomBytes } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Returns a Float32Array of `megabytes` MB (side-car bytes on the way home). */
export class BigArrayJob {
  constructor(readonly megabytes: number) {}

  run(): Float32Array {
    const values = new Float32Array((this.megabytes * 1024 * 1024) / 4);
    for (let i = 0; i < values.length; i++) values[i] = i % 1000;
    return values;
  }
}

/** Writes `smallFiles` files of 1 KB and one file of `bigMegabytes` MB into its output folder. */
export class ManyOutputsJob {
  constructor(
    readonly smallFiles: number,
    readonly bigMegabytes: number,
  ) {}

  async run(_parameters: unknown, context: { outputDir: string }): Promise<number> {
    const small = path.join(context.outputDir, 'small');
    await mkdir(small, { recursive: true });
    for (let i = 0; i < this.smallFiles; i++) {
      await writeFile(
        path.join(small, `file-${String(i).padStart(4, '0')}.txt`),
        randomBytes(512).toString('hex'),
      );
    }
    const big = await open(path.join(context.outputDir, 'big.bin'), 'w');
    for (let i = 0; i < this.bigMegabytes; i++) await big.write(randomBytes(1024 * 1024));
    await big.close();
    return this.smallFiles + 1;
  }
}
