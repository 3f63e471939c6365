import { renderHealthPanel } from './health.js';
import { renderOverview } from './overview.js';
import { renderTarget } from './target.js';

/**
 * Entry of the console. The server renders the page frame and says, in `data-*` attributes on
 * `<body>`, which view this is and whether the credential may act (`data-role`); everything else
 * comes from the admin API.
 */
function start(): void {
  const { view, target, role } = document.body.dataset;
  const main = document.getElementById('main');
  const health = document.getElementById('health');
  if (!main) return;
  const options = { readOnly: role !== 'admin' };
  if (view === 'target' && target) {
    renderTarget(main, target, options);
    health?.remove();
  } else {
    renderOverview(main, options);
    if (health) renderHealthPanel(health);
  }
}

start();
