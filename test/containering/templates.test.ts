import { describe, expect, it } from 'vitest';
import { appendLabels, dependenciesVariables } from '../../src/containering/buildContext.js';
import { npmProject } from '../../src/containering/dependencies.js';
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
    const semver = { semver: { version: '7.8.6' } };
    const dependenciesTemplate = await loadDefaultTemplate(
      DEFAULT_DEPENDENCIES_DOCKERFILE_TEMPLATE,
    );
    const cached = { key: 'k', dir: '/d', entries: [], scripted: [], reused: true };
    const onHost = renderTemplate(
      dependenciesTemplate,
      dependenciesVariables('node:20-bookworm-slim', semver, 'linux/arm64', {
        kind: 'host',
        cached,
      }),
    );
    expect(onHost).toContain('FROM node:20-bookworm-slim\n');
    expect(onHost).toContain('COPY node_modules /app/node_modules');
    expect(onHost).toContain('for linux/arm64');
    expect(onHost).not.toMatch(/^RUN /m);
    const project = npmProject({ semver: { range: '^7', version: '7.8.6' } }, {});
    const inImage = (npmCacheMount: boolean) =>
      renderTemplate(
        dependenciesTemplate,
        dependenciesVariables('node:20-bookworm-slim', semver, 'linux/amd64', {
          kind: 'image',
          project,
          npmCacheMount,
        }),
      );
    // Exec form: no shell needed; no lockfile, so npm install without writing one.
    expect(inImage(false)).toMatch(
      /^RUN \["npm","install","--no-package-lock","--omit=dev",[^\n]*\]$/m,
    );
    expect(inImage(false)).toContain('COPY npm-project /app/');
    expect(inImage(false)).not.toContain('--mount');
    expect(inImage(true)).toMatch(
      /^RUN --mount=type=cache,id=ferry-npm-linux-amd64,target=\/var\/cache\/ferry-npm,sharing=locked \["npm",.*"--cache=\/var\/cache\/ferry-npm"/m,
    );
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
