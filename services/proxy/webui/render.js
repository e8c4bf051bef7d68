/*
 * Kite web UI: renders the cluster document of /webui/api/cluster as HTML. Plain ES2017 with no dependencies, so
 * the same file runs in the browser (as window.KiteWebUi, used by app.js on every refresh) and in the proxy (which
 * renders the first page with it, readable without JavaScript).
 */
(function (root) {
  'use strict';

  function esc(v) {
    return String(v === undefined || v === null ? '' : v).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  /** A duration as "3d 4h", "5m 10s" or "12s". */
  function age(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + (s % 60) + 's';
    var h = Math.floor(m / 60);
    if (h < 24) return h + 'h ' + (m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }

  function time(ms) {
    return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function table(id, headers, rows, empty) {
    if (rows.length === 0) return '<p class="empty" id="' + id + '-empty">' + esc(empty) + '</p>';
    return (
      '<table id="' + id + '"><thead><tr>' + headers.map(function (h) { return '<th>' + esc(h) + '</th>'; }).join('') +
      '</tr></thead><tbody>' + rows.join('') + '</tbody></table>'
    );
  }

  function stateBadge(state) {
    return '<span class="state state-' + esc(state) + '">' + esc(state) + '</span>';
  }

  function nodes(d) {
    return table(
      'nodes-table',
      ['Node', 'Role', 'State', 'Address', 'Session age', 'Segments', 'Channels', 'Version'],
      d.nodes.map(function (n) {
        var role = n.role + (n.role === 'querycoord' ? (n.active ? ' (active)' : ' (standby)') : '');
        return (
          '<tr data-node="' + n.id + '" data-role="' + esc(n.role) + '" data-state="' + esc(n.state) + '">' +
          '<td>' + n.id + '</td><td>' + esc(role) + '</td><td>' + stateBadge(n.state) + '</td><td>' + esc(n.address) +
          '</td><td title="since ' + esc(time(n.startedAt)) + '">' + age(d.generatedAt - n.startedAt) + '</td><td>' +
          (n.role === 'querynode' ? n.segments.length : '') + '</td><td>' + (n.role === 'querynode' || n.role === 'datanode' ? n.channels.length : '') +
          '</td><td>' + esc(n.version) + '</td></tr>'
        );
      }),
      'No sessions registered.'
    );
  }

  function collections(d) {
    return table(
      'collections-table',
      ['Collection', 'Database', 'Load state', 'Progress', 'Replicas (nodes)', 'Segments served', 'Rows served'],
      d.collections.map(function (c) {
        var reps = c.replicas.map(function (r) { return 'replica ' + r.id + ': [' + r.nodes.join(', ') + ']'; }).join('; ');
        return (
          '<tr data-collection="' + esc(c.name) + '"><td>' + esc(c.name) + '</td><td>' + esc(c.db) + '</td><td>' + stateBadge(c.loadState) +
          '</td><td>' + (c.loadState === 'NotLoad' ? '' : c.progress + '%') + '</td><td>' + esc(reps) + '</td><td>' + c.segments +
          '</td><td>' + c.rows + '</td></tr>'
        );
      }),
      'No collections.'
    );
  }

  /** One block per query or data node: its delegators (channels) and the sealed segments it serves. */
  function distribution(d) {
    var workers = d.nodes.filter(function (n) { return n.role === 'querynode' || n.role === 'datanode'; });
    if (workers.length === 0) return '<p class="empty">No query or data nodes.</p>';
    return workers
      .map(function (n) {
        var chans = n.channels.map(function (c) {
          return '<li data-channel="' + esc(c.channel) + '">' + esc(c.channel) + ' <small>(' + esc(c.collection) + ', replica ' + c.replica +
            (n.role === 'querynode' ? (c.serviceable ? ', serviceable' : ', catching up') + ', ' + c.growingRows + ' growing rows' : '') + ')</small></li>';
        });
        var segs = n.segments.map(function (s) {
          return '<li data-segment="' + s.id + '">' + s.id + ' <small>(' + esc(s.collection) + ', replica ' + s.replica + ', ' + s.rows + ' rows)</small></li>';
        });
        return (
          '<div class="node-dist" data-node="' + n.id + '"><h3>' + esc(n.role) + ' ' + n.id + ' ' + stateBadge(n.state) + '</h3>' +
          '<div class="cols"><div><h4>Channels (' + chans.length + ')</h4><ul>' + (chans.join('') || '<li class="empty">none</li>') + '</ul></div>' +
          (n.role === 'querynode' ? '<div><h4>Segments (' + segs.length + ')</h4><ul class="segments">' + (segs.join('') || '<li class="empty">none</li>') + '</ul></div>' : '') +
          '</div></div>'
        );
      })
      .join('');
  }

  function tasks(d) {
    return table(
      'tasks-table',
      ['Kind', 'State', 'Node', 'Collection', 'Age', 'Detail'],
      d.tasks.map(function (t) {
        return '<tr><td>' + esc(t.kind) + '</td><td>' + esc(t.state) + '</td><td>' + (t.node || '') + '</td><td>' + esc(t.collection) +
          '</td><td>' + age(d.generatedAt - t.createdAt) + '</td><td>' + esc(t.detail) + '</td></tr>';
      }),
      'No tasks in flight.'
    );
  }

  /** Newest first. */
  function events(d) {
    var list = d.events.slice().reverse();
    if (list.length === 0) return '<p class="empty">No events yet.</p>';
    return '<ol class="timeline" id="events-list">' + list.map(function (e) {
      return '<li class="event event-' + esc(e.kind) + '" data-kind="' + esc(e.kind) + '" data-node="' + e.node + '"><time datetime="' + esc(new Date(e.at).toISOString()) +
        '">' + esc(time(e.at)) + '</time> <span class="kind">' + esc(e.kind) + '</span> ' + esc(e.message) + '</li>';
    }).join('') + '</ol>';
  }

  function summary(d) {
    var count = function (role, one, many) {
      var n = d.nodes.filter(function (x) { return x.role === role; }).length;
      return n + ' ' + (n === 1 ? one : many);
    };
    var coord = d.coordinator ? 'coordinator ' + d.coordinator.id + ' at ' + d.coordinator.address : 'no active coordinator';
    return esc(count('proxy', 'proxy', 'proxies') + ', ' + count('querynode', 'query node', 'query nodes') + ', ' + count('datanode', 'data node', 'data nodes') + '; ' + coord + '; as of ' + time(d.generatedAt));
  }

  function errors(d) {
    if (!d.errors || d.errors.length === 0) return '';
    return '<ul>' + d.errors.map(function (e) { return '<li>' + esc(e) + '</li>'; }).join('') + '</ul>';
  }

  /** Every section's inner HTML, by the id of the element it fills. */
  function render(d) {
    return {
      summary: summary(d),
      errors: errors(d),
      nodes: nodes(d),
      collections: collections(d),
      distribution: distribution(d),
      tasks: tasks(d),
      events: events(d)
    };
  }

  var api = { render: render, esc: esc, age: age };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.KiteWebUi = api;
})(this);
