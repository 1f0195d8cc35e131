import { describe, expect, it } from 'vitest';
import { appendLabels } from '../../src/containering/buildContext.js';
import {
  DEFAULT_DEPENDENCIES_DOCKERFILE_TEMPLATE,
  DEFAULT_DOCKERFILE_TEMPLATE,
  DEFAULT_ENTRY_FILE_TEMPLATE,
  loadDefaultTemplate,
  renderTemplate,
} from '../../src/containering/templates.js';
import { TemplateRenderError } from '../../src/containering/errors.js';

describe('renderTemplate', () => {
  it('renders variables without HTML escaping, and json as a JS literal', () => {
    const out = renderTemplate(
      { name: 't', source: 'FROM {{image}}\nconst x = {{json path}};' },
      { image: 'a/b:1 & <c>', path: "/app/it's" },
    );
    expect(out).toBe(`FROM a/b:1 & <c>\nconst x = "/app/it's";`);
  });

  it('names the missing variable, where it is, and the template', () => {
    const render = () =>
      renderTemplate({ name: 'my/Dockerfile.hbs', source: 'FROM x\nCOPY {{nope}} /app' }, { a: 1 });
    expect(render).toThrow(TemplateRenderError);
    try {
      render();
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateRenderError);
      const e = error as TemplateRenderError;
      expect(e.variable).toBe('nope');
      expect(e.template).toBe('my/Dockerfile.hbs');
      expect(e.message).toContain('my/Dockerfile.hbs');
      expect(e.message).toContain('"nope" (line 2, column 8)');
      expect(e.message).toContain('the variables are: a');
    }
  });

  it('reports a syntax error as an invalid template', () => {
    expect(() => renderTemplate({ name: 'bad', source: '{{#each}}' }, {})).toThrow(
      /bad: not a valid Handlebars template/,
    );
  });

  it('renders the default templates with the variables Ferry gives them', async () => {
    const vars = {
      name: 'job',
      version: '1.0.0',
      uid: 'job-1.0.0-abc',
      ferryVersion: '0.1.0',
      appDir: '/app',
      packageDir: '/app/package',
      baseImage: 'node:20-bookworm-slim',
      dependenciesImage: 'ferry/dependencies:0123',
      entryFileName: 'entry.mjs',
      runtimePath: 'runtime',
      sourcePath: 'source',
      payloadPath: 'payload',
      runtimeModule: '/app/ferry/runtime.mjs',
    };
    const dockerfile = renderTemplate(await loadDefaultTemplate(DEFAULT_DOCKERFILE_TEMPLATE), vars);
    expect(dockerfile).toContain('FROM ferry/dependencies:0123\n');
    expect(dockerfile).not.toMatch(/^RUN /m);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "/app/entry.mjs"]');
    const steps = dockerfile.split('\n').filter((l) => /^COPY /.test(l));
    expect(steps).toEqual([
      'COPY runtime /app/',
      'COPY entry.mjs /app/entry.mjs',
      'COPY source /',
      'COPY payload /app/package/',
    ]);
    // A job with assets gets one step more, before Ferry's runtime and the source.
    const withAssets = renderTemplate(await loadDefaultTemplate(DEFAULT_DOCKERFILE_TEMPLATE), {
      ...vars,
      hasAssets: true,
      assetsPath: 'assets',
    });
    expect(withAssets.split('\n').filter((l) => /^COPY /.test(l))[0]).toBe('COPY assets /');
    const dependencies = renderTemplate(
      await loadDefaultTemplate(DEFAULT_DEPENDENCIES_DOCKERFILE_TEMPLATE),
      {
        baseImage: 'node:20-bookworm-slim',
        appDir: '/app',
        dependenciesPath: 'node_modules',
        dependencyList: 'semver@7.8.6',
      },
    );
    expect(dependencies).toContain('FROM node:20-bookworm-slim\n');
    expect(dependencies).toContain('COPY node_modules /app/node_modules');
    const entry = renderTemplate(await loadDefaultTemplate(DEFAULT_ENTRY_FILE_TEMPLATE), vars);
    expect(entry).toContain(`import { runEntryPoint } from "/app/ferry/runtime.mjs";`);
    expect(entry).toContain(`runEntryPoint({ packageDir: "/app/package" })`);
    // The entry file comes before the source layer: it must not change with the payload.
    expect(entry).not.toContain(vars.uid);
  });
});

describe('appendLabels', () => {
  it('adds one LABEL instruction, sorted and quoted', () => {
    expect(appendLabels('FROM x', { 'b.k': 'two words', 'a.k': 'say "hi"' })).toBe(
      'FROM x\nLABEL "a.k"="say \\"hi\\"" \\\n      "b.k"="two words"\n',
    );
    expect(appendLabels('FROM x\n', {})).toBe('FROM x\n');
    expect(() => appendLabels('FROM x', { k: 'a\nb' })).toThrow(/line breaks/);
  });
});
