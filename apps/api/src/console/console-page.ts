/** The page frame the server renders; the console script fills `<main>` from the admin API. */

export interface ConsolePageOptions {
  view: 'overview' | 'target';
  target?: string;
  /** `admin` may act; anything else sees a read-only console. */
  role: 'admin' | 'viewer';
  scriptUrl: string;
  styleUrl: string;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character] ?? character);
}

export function renderConsolePage(options: ConsolePageOptions): string {
  const readOnly = options.role !== 'admin';
  const title =
    options.view === 'target' && options.target ? `${options.target} · Warden console` : 'Warden console';
  const attributes = [
    `data-view="${options.view}"`,
    `data-role="${options.role}"`,
    options.target === undefined ? '' : `data-target="${escapeHtml(options.target)}"`,
  ]
    .filter(Boolean)
    .join(' ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${escapeHtml(options.styleUrl)}">
<script type="module" src="${escapeHtml(options.scriptUrl)}"></script>
</head>
<body ${attributes}>
<a class="skip" href="#main">Skip to content</a>
<header class="site-header">
<h1><a href="/">Warden</a></h1>
<nav aria-label="Admin tools">
<a href="/">Overview</a>
<a href="/admin/queues">Bull Board</a>
<a href="/docs">API docs</a>
<a href="/metrics">Metrics</a>
</nav>
<span class="role">${readOnly ? 'Read-only (viewer)' : 'Admin'}</span>
</header>
<div class="layout">
${readOnly ? '<p class="read-only-note" id="read-only-note">Signed in with the viewer token: the console is read-only, so backups, restore tests and restores cannot be started here.</p>\n' : ''}<main id="main" tabindex="-1" aria-live="off">
<p>Loading…</p>
<noscript><p>The console needs JavaScript. The same data is served as JSON by the admin API (see <a href="/docs">the API docs</a>).</p></noscript>
</main>
<section id="health" aria-labelledby="health-heading"></section>
</div>
</body>
</html>
`;
}
