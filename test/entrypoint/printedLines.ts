/** Reading back what `ChattyJob` printed. */

export interface PrintedLines {
  /** The numbers of the `out <n> ...` / `err <n> ...` lines, in the order they appear. */
  readonly numbers: number[];
  /** Every other non-empty line (the entry point's own), in order. */
  readonly others: string[];
}

export function printedLines(text: string): PrintedLines {
  const numbers: number[] = [];
  const others: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^(?:out|err) (\d+) \.*$/.exec(line);
    if (match) numbers.push(Number(match[1]));
    else if (line !== '') others.push(line);
  }
  return { numbers, others };
}

/** What ChattyJob(lines) prints on each stream: odd numbers on stdout, even ones on stderr. */
export function expectedNumbers(lines: number): { stdout: number[]; stderr: number[] } {
  const stdout: number[] = [];
  const stderr: number[] = [];
  for (let n = 1; n <= lines; n++) (n % 2 === 1 ? stdout : stderr).push(n);
  return { stdout, stderr };
}
