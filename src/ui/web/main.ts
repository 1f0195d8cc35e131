/// <reference lib="dom" />
/** The front end's entry: a hash router over the three pages. */
import { runPage } from './runPage.js';
import { runsPage, type Page } from './runsPage.js';
import { sweepPage } from './sweepPage.js';

let current: Page | undefined;

function route(): void {
  const main = document.getElementById('main')!;
  current?.dispose();
  const hash = location.hash.replace(/^#/, '') || '/';
  const run = /^\/run\/(.+)$/.exec(hash);
  const sweep = /^\/sweep\/(.+)$/.exec(hash);
  if (run !== null) {
    current = runPage(main, decodeURIComponent(run[1]!));
    document.title = `run ${decodeURIComponent(run[1]!)} · ferry ui`;
  } else if (sweep !== null) {
    current = sweepPage(main, decodeURIComponent(sweep[1]!));
    document.title = `sweep ${decodeURIComponent(sweep[1]!)} · ferry ui`;
  } else {
    current = runsPage(main);
    document.title = 'runs · ferry ui';
  }
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
route();
