/**
 * A line of a job's output as a terminal shows it: `\r` returns to the start of the line and what
 * follows overwrites it (a progress bar redrawn in place), backspace steps back, `ESC[K` erases to
 * the end; other ANSI escape sequences (colours) are dropped. Pure, so it is tested without a page.
 */

// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][A-Za-z0-9]|\x1b[=>]/g;

export function renderTerminalLine(line: string): string {
  if (!line.includes('\r') && !line.includes('\b') && !line.includes('\x1b')) return line;
  const cells: string[] = [];
  let cursor = 0;
  let last = 0;
  const write = (text: string): void => {
    for (const char of text) {
      if (char === '\r') cursor = 0;
      else if (char === '\b') cursor = Math.max(0, cursor - 1);
      else cells[cursor++] = char;
    }
  };
  for (const match of line.matchAll(ESCAPE)) {
    write(line.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[2] === 'K') {
      const mode = match[1] === '' ? '0' : match[1];
      if (mode === '0') cells.length = Math.min(cells.length, cursor);
      else if (mode === '2') cells.length = 0;
    }
  }
  write(line.slice(last));
  return Array.from(cells, (c) => c ?? ' ').join('');
}
