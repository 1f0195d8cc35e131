/**
 * Imports a project's own module (the job module a config names) in Ferry's process. A TypeScript
 * module needs a loader: tsx's ESM hooks are registered on the first such import, and stay for the
 * process, so the modules packaging imports later (the payload's classes) are the same instances.
 * Ferry's own code is JavaScript, so a command that loads no job (`ferry ls`, `--version`) never
 * pays for tsx. Node's own type stripping is not enough: a job's source imports `./greeting.js`
 * for `greeting.ts` and may use parameter properties, which only a transforming loader handles.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);

/**
 * Set by whatever already made this process load TypeScript (Ferry's `bin/ferry.mjs` run from a
 * clone registers tsx itself), so that the hooks are not registered twice.
 */
export const TYPESCRIPT_LOADER_FLAG: unique symbol = Symbol.for('ferry.typescriptLoader');

let registering: Promise<void> | undefined;

/** Registers tsx's ESM loader in this process, once. */
export function registerTypeScriptLoader(): Promise<void> {
  const flags = globalThis as { [TYPESCRIPT_LOADER_FLAG]?: boolean };
  if (flags[TYPESCRIPT_LOADER_FLAG] === true) return Promise.resolve();
  registering ??= import('tsx/esm/api').then(({ register }) => {
    register();
    flags[TYPESCRIPT_LOADER_FLAG] = true;
  });
  return registering;
}

/** Imports `file` (an absolute path), registering the TypeScript loader first when it is TypeScript. */
export async function importProjectModule(file: string): Promise<unknown> {
  if (TYPESCRIPT_EXTENSIONS.has(path.extname(file))) await registerTypeScriptLoader();
  return import(pathToFileURL(file).href);
}
