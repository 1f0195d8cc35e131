/**
 * Root of Ferry's typed errors. Every error Ferry throws on purpose extends this class, so a caller
 * (or the CLI) can tell a user's mistake or an environment problem from a bug.
 */
export class FerryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
