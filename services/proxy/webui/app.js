/*
 * Kite web UI: refreshes the page from /webui/api/cluster every few seconds (render.js draws it). One request at a
 * time, each abandoned after the page's timeout; a failed refresh keeps the last view and says why in the header.
 */
(function () {
  'use strict';
  var body = document.body;
  var intervalMs = Number(body.getAttribute('data-refresh-ms')) || 3000;
  var timeoutMs = Number(body.getAttribute('data-timeout-ms')) || 30000;
  var status = document.getElementById('refresh-status');
  var paused = false;
  var timer = null;

  function show(d) {
    var parts = window.KiteWebUi.render(d);
    Object.keys(parts).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.innerHTML = parts[id];
    });
    body.setAttribute('data-generated-at', String(d.generatedAt));
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    if (!paused) timer = setTimeout(refresh, intervalMs);
  }

  function refresh() {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var guard = setTimeout(function () { if (ctl) ctl.abort(); }, timeoutMs);
    fetch('api/cluster', { cache: 'no-store', credentials: 'same-origin', signal: ctl ? ctl.signal : undefined })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (d) {
        show(d);
        status.textContent = 'live, every ' + intervalMs / 1000 + ' s';
        status.className = 'ok';
      })
      .catch(function (e) {
        status.textContent = 'refresh failed (' + (e && e.name === 'AbortError' ? 'no answer in ' + timeoutMs / 1000 + ' s' : e.message) + '); showing the last view';
        status.className = 'failed';
      })
      .then(function () {
        clearTimeout(guard);
        schedule();
      });
  }

  var toggle = document.getElementById('pause');
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener('click', function () {
      paused = !paused;
      toggle.textContent = paused ? 'Resume' : 'Pause';
      if (paused) {
        status.textContent = 'paused';
        status.className = '';
      }
      schedule();
    });
  }
  refresh();
})();
