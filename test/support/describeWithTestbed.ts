/**
 * Kept apart from testbed.ts, which benches import too: this one needs vitest's runner.
 */
import { describe, it } from 'vitest';
import type { Testbed } from './testbed.js';

/**
 * `describe(name, body)` when the test bed is up; otherwise a skipped suite whose body never runs.
 * (`describe.skipIf(!testbed)` is not enough: vitest runs a skipped suite's body to collect its
 * tests, so a body that reads the test bed fails at collection when there is none.)
 * `skipBecause`: another reason to skip, said in the skipped test's name.
 */
export function describeWithTestbed(
  testbed: Testbed | undefined,
  name: string,
  body: (testbed: Testbed) => void,
  skipBecause?: string,
): void {
  if (testbed !== undefined && skipBecause === undefined) {
    describe(name, () => body(testbed));
    return;
  }
  const reason = skipBecause ?? 'needs the test bed: bash scripts/testbed.sh up';
  describe.skip(name, () => {
    it(reason, () => undefined);
  });
}
