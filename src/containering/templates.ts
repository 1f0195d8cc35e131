import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { TemplateRenderError } from './errors.js';

/** Folder holding Ferry's default templates. */
export const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));
export const DEFAULT_DOCKERFILE_TEMPLATE = 'Dockerfile.hbs';
export const DEFAULT_ENTRY_FILE_TEMPLATE = 'entry.mjs.hbs';
/** The Dockerfile of the image holding a base image plus a job's npm dependencies (not per task). */
export const DEFAULT_DEPENDENCIES_DOCKERFILE_TEMPLATE = 'Dockerfile.dependencies.hbs';

/** A template's source and a name for it in errors (a path or where it came from). */
export interface TemplateSource {
  readonly name: string;
  readonly source: string;
}

/** Reads one of Ferry's default templates. */
export async function loadDefaultTemplate(fileName: string): Promise<TemplateSource> {
  const file = `${TEMPLATES_DIR}${fileName}`;
  return { name: file, source: await readFile(file, 'utf8') };
}

/**
 * Renders a Handlebars template strictly: a variable the template uses and `variables` lacks is a
 * `TemplateRenderError` that names it and the template. `{{json x}}` writes `x` as a JSON (and so
 * JavaScript) literal; plain `{{x}}` is not HTML-escaped, since nothing here is HTML.
 */
export function renderTemplate(
  template: TemplateSource,
  variables: Readonly<Record<string, unknown>>,
): string {
  const handlebars = Handlebars.create();
  handlebars.registerHelper(
    'json',
    (value: unknown) => new handlebars.SafeString(JSON.stringify(value)),
  );
  let compiled: HandlebarsTemplateDelegate;
  try {
    compiled = handlebars.compile(template.source, { strict: true, noEscape: true });
    return compiled(variables);
  } catch (error) {
    throw toRenderError(template, variables, error);
  }
}

function toRenderError(
  template: TemplateSource,
  variables: Readonly<Record<string, unknown>>,
  error: unknown,
): TemplateRenderError {
  const message = error instanceof Error ? error.message : String(error);
  const known = Object.keys(variables).sort().join(', ');
  const missing = /^"([^"]+)" not defined in .*? - (\d+):(\d+)/.exec(message);
  if (missing !== null) {
    const [, variable = '', line = '?', column = '?'] = missing;
    return new TemplateRenderError(
      template.name,
      variable,
      `the template uses "${variable}" (line ${line}, column ${Number(column) + 1}), which is not defined; the variables are: ${known}`,
      { cause: error },
    );
  }
  const helper = /^Missing helper: "([^"]+)"/.exec(message);
  if (helper !== null) {
    return new TemplateRenderError(
      template.name,
      helper[1],
      `the template uses "${helper[1]}", which is neither a variable nor a helper; the variables are: ${known}; the helpers: json, if, unless, each, with`,
      { cause: error },
    );
  }
  return new TemplateRenderError(
    template.name,
    undefined,
    `not a valid Handlebars template: ${message}`,
    {
      cause: error,
    },
  );
}
