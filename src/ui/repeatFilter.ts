import { Writable } from 'node:stream';

/**
 * A stream that passes each line on to `target` unless the same line went through within
 * `windowMs`: `ferry ui` syncs runs every 2 s, and an unreachable target would otherwise say so on
 * the terminal every 2 s.
 */
export class RepeatFilter extends Writable {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly target: NodeJS.WritableStream,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    super({ decodeStrings: false });
  }

  override _write(
    chunk: Buffer | string,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    const text = chunk.toString();
    const at = this.now();
    const last = this.seen.get(text);
    if (last !== undefined && at - last < this.windowMs) {
      callback();
      return;
    }
    this.seen.set(text, at);
    if (this.seen.size > 1000) {
      for (const [line, when] of this.seen) if (at - when >= this.windowMs) this.seen.delete(line);
    }
    this.target.write(text, (error) => callback(error ?? null));
  }
}
