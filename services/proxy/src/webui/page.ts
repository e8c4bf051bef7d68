/**
 * The web UI's page: a fixed shell whose sections are filled by webui/render.js, here on the server (so the page
 * reads without JavaScript) and again in the browser on every refresh (app.js).
 */
import * as path from 'node:path';
import type { ClusterJson } from './cluster';

interface Renderer {
  render(d: ClusterJson): Record<'summary' | 'errors' | 'nodes' | 'collections' | 'distribution' | 'tasks' | 'events', string>;
}

/** The shared renderer, beside the package's dist/ (a plain script the browser loads as it is). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const renderer = require(path.resolve(__dirname, '..', '..', 'webui', 'render.js')) as Renderer;

/** How often the page refreshes itself. */
export const REFRESH_MS = 3000;

export function renderPage(d: ClusterJson, timeoutMs: number): string {
  const p = renderer.render(d);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kite cluster</title>
<link rel="stylesheet" href="style.css">
</head>
<body data-refresh-ms="${REFRESH_MS}" data-timeout-ms="${timeoutMs}" data-generated-at="${d.generatedAt}">
<header>
<h1>Kite cluster</h1>
<span id="summary">${p.summary}</span>
<span id="refresh-status">static view (reload to refresh)</span>
<button id="pause" type="button" hidden>Pause</button>
</header>
<div id="errors">${p.errors}</div>
<nav><a href="#nodes-section">Nodes</a><a href="#collections-section">Collections</a><a href="#distribution-section">Segments and channels</a><a href="#tasks-section">Tasks</a><a href="#events-section">Events</a><a href="api/cluster">JSON</a></nav>
<section id="nodes-section"><h2>Nodes</h2><div id="nodes">${p.nodes}</div></section>
<section id="collections-section"><h2>Collections</h2><div id="collections">${p.collections}</div></section>
<section id="distribution-section"><h2>Segments and channels per node</h2><div id="distribution">${p.distribution}</div></section>
<section id="tasks-section"><h2>Tasks in flight</h2><div id="tasks">${p.tasks}</div></section>
<section id="events-section"><h2>Recent events</h2><div id="events">${p.events}</div></section>
<script src="render.js"></script>
<script src="app.js"></script>
</body>
</html>
`;
}
