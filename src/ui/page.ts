/** The one HTML page; the front end (assets/app.js) draws the rest from the hash route. */

/** `&`, `<`, `>`, `"` and `'` as entities, for text placed in HTML. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export function pageHtml(project: string, csrfToken: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="ferry-csrf" content="${escapeHtml(csrfToken)}">
<title>${escapeHtml(project)} · ferry ui</title>
<link rel="stylesheet" href="/assets/app.css">
<script defer src="/assets/app.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Main"><a href="#/" class="brand">ferry ui</a> <span class="project">${escapeHtml(project)}</span></nav></header>
<main id="main" tabindex="-1"><p>Loading…</p></main>
<div id="live" class="visually-hidden" aria-live="polite"></div>
</body>
</html>
`;
}
