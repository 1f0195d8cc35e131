/** Works for a while (a stand-in for training), then returns an array and writes an output. */
export class SlowJob {
  constructor(
    readonly seconds: number,
    readonly size: number,
  ) {}

  async run(parameters: { seed?: number }, context: { outputDir: string; runId: string }) {
    await new Promise((resolve) => setTimeout(resolve, this.seconds * 1000));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${context.outputDir}/done.txt`, `seed ${parameters.seed ?? 0}\n`);
    const values = new Float32Array(this.size);
    for (let i = 0; i < values.length; i++) values[i] = (i % 7) * (parameters.seed ?? 1);
    return { values, runId: context.runId };
  }
}
