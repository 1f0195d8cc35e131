/**
 * The longest line passed on whole, in characters. A longer one (a progress bar redrawn with `\r` for
 * hours, a blob printed without a newline) is passed on in pieces of this length, so that following
 * a job's output holds at most this much of a line, whatever the job prints.
 */
export const MAX_LINE_LENGTH = 1 << 20;

/**
 * Turns chunks of text into complete lines (without their `\n` or `\r\n`), keeping a partial last
 * line until it ends or `flush()`. Time is linear in the text: a partial line is kept as pieces and
 * joined once, not re-scanned with every chunk.
 */
export class LineSplitter {
  private pieces: string[] = [];
  private partialLength = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineLength: number = MAX_LINE_LENGTH,
  ) {
    if (!Number.isInteger(maxLineLength) || maxLineLength < 1) {
      throw new RangeError(`maxLineLength must be a positive integer, got ${maxLineLength}`);
    }
  }

  push(chunk: string): void {
    let start = 0;
    for (let end = chunk.indexOf('\n'); end !== -1; end = chunk.indexOf('\n', start)) {
      const line = this.take(chunk.slice(start, end));
      this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = end + 1;
    }
    if (start < chunk.length) this.keep(chunk.slice(start));
  }

  flush(): void {
    if (this.partialLength > 0) this.emit(this.take(''));
  }

  /** The partial line with `tail` appended; the partial line is then empty. */
  private take(tail: string): string {
    if (this.partialLength === 0) return tail;
    this.pieces.push(tail);
    const line = this.pieces.join('');
    this.pieces = [];
    this.partialLength = 0;
    return line;
  }

  private keep(text: string): void {
    this.pieces.push(text);
    this.partialLength += text.length;
    if (this.partialLength <= this.maxLineLength) return;
    // Pass on whole pieces and keep the rest (at least one character, so that a line of exactly
    // the limit followed by its newline is one line, not a piece and an empty line).
    const partial = this.take('');
    const cut = Math.floor((partial.length - 1) / this.maxLineLength) * this.maxLineLength;
    this.emit(partial.slice(0, cut));
    this.keep(partial.slice(cut));
  }

  private emit(line: string): void {
    if (line.length <= this.maxLineLength) {
      this.onLine(line);
      return;
    }
    for (let at = 0; at < line.length; at += this.maxLineLength) {
      this.onLine(line.slice(at, at + this.maxLineLength));
    }
  }
}
