// Draws the dashboard page that test/observability/dashboard-render.ts builds: window.KITE_DASHBOARD holds the time
// axis and, per panel, its gridPos, field defaults (unit, decimals, min/max, thresholds, value mappings) and series.
// Time series are drawn with uPlot (window.uPlot, inlined by the page); stat, bar gauge and state timeline panels
// with plain elements. Sets window.KITE_DASHBOARD_DRAWN when done, or window.KITE_DASHBOARD_ERROR.
'use strict';
(function () {
  var D = window.KITE_DASHBOARD;
  /** Grid geometry, as Grafana's (24 columns) with smaller cells so that the whole dashboard fits one picture. */
  var ROW_H = 24;
  var GAP = 6;
  /** Grafana's "classic" palette order, and its named colours. */
  var PALETTE = ['#7EB26D', '#EAB839', '#6ED0E0', '#EF843C', '#E24D42', '#1F78C1', '#BA43A9', '#705DA0', '#508642', '#CCA300', '#447EBC', '#C15C17', '#890F02', '#0A437C', '#6D1F62', '#584477'];
  var NAMED = { green: '#73BF69', red: '#F2495C', orange: '#FF9830', yellow: '#FADE2A', blue: '#5794F2', purple: '#B877D9', text: '#ccccdc' };

  function color(name) {
    return NAMED[name] || name || NAMED.text;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** A number with about three significant digits (or `decimals`), trailing zeros dropped. */
  function num(v, decimals) {
    if (decimals !== undefined && decimals !== null) return v.toFixed(decimals);
    var a = Math.abs(v);
    var d = a === 0 || a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(a)));
    return String(Number(v.toFixed(d)));
  }

  function scaled(v, decimals, base, units) {
    var i = 0;
    while (Math.abs(v) >= base && i < units.length - 1) {
      v /= base;
      i++;
    }
    return num(v, decimals) + units[i];
  }

  /** Grafana's units that Kite's dashboard uses. */
  function fmt(v, unit, decimals) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    switch (unit) {
      case 'percentunit':
        return num(v * 100, decimals) + '%';
      case 'percent':
        return num(v, decimals) + '%';
      case 's': {
        var a = Math.abs(v);
        if (a === 0) return '0 s';
        if (a < 1e-3) return num(v * 1e6, decimals) + ' µs';
        if (a < 1) return num(v * 1e3, decimals) + ' ms';
        if (a < 60) return num(v, decimals) + ' s';
        if (a < 3600) return num(v / 60, decimals) + ' min';
        return num(v / 3600, decimals) + ' h';
      }
      case 'bytes':
        return scaled(v, decimals, 1024, [' B', ' KiB', ' MiB', ' GiB', ' TiB']);
      case 'Bps':
        return scaled(v, decimals, 1024, [' B/s', ' KiB/s', ' MiB/s', ' GiB/s']);
      case 'reqps':
        return scaled(v, decimals, 1000, [' req/s', 'K req/s', 'M req/s']);
      case 'ops':
        return scaled(v, decimals, 1000, [' ops/s', 'K ops/s', 'M ops/s']);
      case 'rowsps':
        return scaled(v, decimals, 1000, [' rows/s', 'K rows/s', 'M rows/s']);
      case 'short':
        return scaled(v, decimals, 1000, ['', 'K', 'M', 'B', 'T']);
      default:
        return num(v, decimals);
    }
  }

  var measure = document.createElement('canvas').getContext('2d');
  measure.font = '10px sans-serif';

  /** uPlot axis size: as wide as the widest tick label, so that units such as "rows/s" are not cut off. */
  function axisSize(u, values) {
    var w = 0;
    (values || []).forEach(function (v) {
      if (v !== null) w = Math.max(w, measure.measureText(v).width);
    });
    return Math.ceil(w) + 18;
  }

  /** Time ticks in UTC (as the header says): seconds shown for ranges up to half an hour. */
  function timeLabels(u, splits) {
    var span = D.times[D.times.length - 1] - D.times[0];
    return splits.map(function (t) {
      var iso = new Date(t * 1000).toISOString();
      if (span <= 1800) return iso.slice(11, 19);
      if (span <= 2 * 86400) return iso.slice(11, 16);
      return iso.slice(5, 10) + ' ' + iso.slice(11, 16);
    });
  }

  /** Tick steps in powers of two of 1024 for byte units, so that the axis reads 64 MiB, 128 MiB. */
  var BYTE_INCRS = [];
  [1, 1024, 1048576, 1073741824].forEach(function (k) {
    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].forEach(function (x) {
      BYTE_INCRS.push(x * k);
    });
  });

  function lastNotNull(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }

  /** The colour of the highest threshold step at or below `v`. */
  function thresholdColor(defaults, v) {
    var steps = (defaults.thresholds && defaults.thresholds.steps) || [];
    var c = steps.length ? steps[0].color : 'green';
    for (var i = 0; i < steps.length; i++) if (steps[i].value === null || (v !== null && v >= steps[i].value)) c = steps[i].color;
    return color(c);
  }

  /** A value mapping for `v` ({text, color}), if the panel has one. */
  function mapped(defaults, v) {
    var maps = defaults.mappings || [];
    for (var i = 0; i < maps.length; i++) {
      var m = maps[i];
      if (m.type === 'value' && m.options && v !== null && m.options[String(v)]) return m.options[String(v)];
    }
    return null;
  }

  function hexAlpha(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((n >> 16) & 255) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + alpha + ')';
  }

  function noData(body) {
    body.appendChild(el('div', 'nodata', 'No data'));
  }

  function legend(body, items) {
    var box = el('div', 'legend');
    items.forEach(function (it) {
      var item = el('span', 'item');
      var sw = el('i');
      sw.style.background = it.color;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(it.name));
      box.appendChild(item);
    });
    body.appendChild(box);
    return box;
  }

  function timeseries(p, body) {
    if (p.series.length === 0) return noData(body);
    var d = p.defaults;
    var custom = d.custom || {};
    var colors = p.series.map(function (_, i) {
      return PALETTE[i % PALETTE.length];
    });
    var chart = el('div', 'chart');
    body.appendChild(chart);
    var box = legend(
      body,
      p.series.map(function (s, i) {
        return { name: s.name, color: colors[i] };
      }),
    );
    var height = Math.max(40, body.clientHeight - box.offsetHeight - 2);
    var stepped = custom.lineInterpolation === 'stepAfter' ? uPlot.paths.stepped({ align: 1 }) : undefined;
    var fill = custom.fillOpacity ? custom.fillOpacity / 100 : 0;
    var series = [{}].concat(
      p.series.map(function (s, i) {
        return { label: s.name, stroke: colors[i], width: 1.25, fill: fill ? hexAlpha(colors[i], fill) : undefined, paths: stepped, points: { show: false }, spanGaps: false };
      }),
    );
    var softMin = custom.axisSoftMin;
    var axis = { stroke: '#a0a4ab', font: '10px sans-serif', grid: { stroke: 'rgba(204,204,220,0.08)', width: 1 }, ticks: { stroke: 'rgba(204,204,220,0.15)', width: 1 } };
    new uPlot(
      {
        width: chart.clientWidth,
        height: height,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: true },
          y: {
            range: function (u, min, max) {
              if (min === null || max === null) return [0, 1];
              if (d.min !== undefined) min = d.min;
              else if (softMin !== undefined) min = Math.min(min, softMin);
              if (d.max !== undefined) max = d.max;
              if (max === min) max = min + 1;
              return uPlot.rangeNum(min, max, 0.1, true);
            },
          },
        },
        axes: [
          Object.assign({}, axis, { size: 24, space: 70, values: timeLabels }),
          Object.assign({}, axis, {
            size: axisSize,
            incrs: d.unit === 'bytes' || d.unit === 'Bps' ? BYTE_INCRS : undefined,
            values: function (u, splits) {
              return splits.map(function (v) {
                return fmt(v, d.unit, d.decimals);
              });
            },
          }),
        ],
        series: series,
      },
      [D.times].concat(
        p.series.map(function (s) {
          return s.values;
        }),
      ),
      chart,
    );
  }

  function stat(p, body) {
    if (p.series.length === 0) return noData(body);
    var d = p.defaults;
    var wrap = el('div', 'stat-values');
    p.series.forEach(function (s) {
      var v = lastNotNull(s.values);
      var c = thresholdColor(d, v);
      var cell = el('div', 'stat-value');
      // graphMode "area": the series as a faint area behind the value.
      if (p.options.graphMode === 'area') {
        var spark = el('div', 'spark');
        cell.appendChild(spark);
        cell._spark = { el: spark, values: s.values, color: c };
      }
      var text = el('div', 'big', fmt(v, d.unit, d.decimals));
      text.style.color = c;
      cell.appendChild(text);
      if (p.series.length > 1) cell.appendChild(el('div', 'stat-name', s.name));
      wrap.appendChild(cell);
    });
    body.appendChild(wrap);
    Array.prototype.forEach.call(wrap.children, function (cell) {
      var sp = cell._spark;
      if (!sp) return;
      new uPlot(
        {
          width: cell.clientWidth,
          height: Math.max(20, Math.round(cell.clientHeight * 0.55)),
          legend: { show: false },
          cursor: { show: false },
          axes: [{ show: false }, { show: false }],
          scales: { x: { time: true }, y: { range: function (u, min, max) { return min === null ? [0, 1] : [Math.min(0, min), max === min ? max + 1 : max]; } } },
          series: [{}, { stroke: hexAlpha(sp.color, 0.7), width: 1, fill: hexAlpha(sp.color, 0.15), points: { show: false } }],
        },
        [D.times, sp.values],
        sp.el,
      );
    });
  }

  function bargauge(p, body) {
    if (p.series.length === 0) return noData(body);
    var d = p.defaults;
    var min = d.min !== undefined ? d.min : 0;
    var list = el('div', 'bars');
    p.series.forEach(function (s) {
      var v = lastNotNull(s.values);
      var max = d.max !== undefined ? d.max : Math.max.apply(null, p.series.map(function (x) { return lastNotNull(x.values) || 0; }).concat([1]));
      var c = thresholdColor(d, v);
      var row = el('div', 'bar-row');
      row.appendChild(el('div', 'bar-name', s.name));
      var track = el('div', 'bar-track');
      var fillEl = el('div', 'bar-fill');
      var share = v === null ? 0 : Math.max(0, Math.min(1, (v - min) / (max - min || 1)));
      fillEl.style.width = share * 100 + '%';
      fillEl.style.background = 'linear-gradient(90deg, ' + hexAlpha(c, 0.35) + ', ' + c + ')';
      track.appendChild(fillEl);
      row.appendChild(track);
      var val = el('div', 'bar-value', fmt(v, d.unit, d.decimals));
      val.style.color = c;
      row.appendChild(val);
      list.appendChild(row);
    });
    body.appendChild(list);
  }

  function stateTimeline(p, body) {
    if (p.series.length === 0) return noData(body);
    var d = p.defaults;
    var n = D.times.length;
    var rows = el('div', 'states');
    p.series.forEach(function (s) {
      var row = el('div', 'state-row');
      row.appendChild(el('div', 'state-name', s.name));
      var track = el('div', 'state-track');
      // Runs of equal values (mergeValues), each as wide as its share of the time axis.
      var i = 0;
      while (i < n) {
        var v = s.values[i];
        var j = i;
        while (j + 1 < n && s.values[j + 1] === v) j++;
        var seg = el('div', 'state-seg');
        seg.style.width = ((j - i + 1) / n) * 100 + '%';
        if (v !== null) {
          var m = mapped(d, v);
          var c = m && m.color ? color(m.color) : thresholdColor(d, v);
          seg.style.background = hexAlpha(c, 0.8);
          seg.textContent = m && m.text ? m.text : fmt(v, d.unit, d.decimals);
        }
        track.appendChild(seg);
        i = j + 1;
      }
      row.appendChild(track);
      rows.appendChild(row);
    });
    body.appendChild(rows);
    // The legend lists the value mappings, as Grafana's does for a state timeline.
    var items = [];
    (d.mappings || []).forEach(function (m) {
      Object.keys(m.options || {}).forEach(function (k) {
        items.push({ name: m.options[k].text || k, color: color(m.options[k].color) });
      });
    });
    if (items.length) legend(body, items);
  }

  var DRAW = { timeseries: timeseries, stat: stat, bargauge: bargauge, 'state-timeline': stateTimeline };

  try {
    var grid = document.getElementById('grid');
    var colW = (grid.clientWidth + GAP) / 24;
    var bottom = 0;
    D.panels.forEach(function (p) {
      var g = p.gridPos;
      var box = el('div', p.type === 'row' ? 'row-title' : 'panel');
      box.style.left = g.x * colW + 'px';
      box.style.top = g.y * (ROW_H + GAP) + 'px';
      box.style.width = g.w * colW - GAP + 'px';
      box.style.height = g.h * (ROW_H + GAP) - GAP + 'px';
      bottom = Math.max(bottom, (g.y + g.h) * (ROW_H + GAP));
      grid.appendChild(box);
      if (p.type === 'row') {
        box.textContent = p.title;
        return;
      }
      box.appendChild(el('div', 'title', p.title));
      var body = el('div', 'body');
      box.appendChild(body);
      if (p.errors.length) {
        body.appendChild(el('div', 'error', p.errors.join('\n')));
        return;
      }
      var draw = DRAW[p.type];
      if (draw) draw(p, body);
      else body.appendChild(el('div', 'nodata', 'panel type "' + p.type + '" is not drawn by this renderer'));
    });
    grid.style.height = bottom + 'px';
    window.KITE_DASHBOARD_DRAWN = true;
  } catch (e) {
    window.KITE_DASHBOARD_ERROR = String((e && e.stack) || e);
  }
})();
