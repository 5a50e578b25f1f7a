// The dashboard's charts and map (Apache ECharts), drawn from the same API answer as the
// figures the server rendered into the page. Loaded as a file: the CSP allows no inline script.
(function () {
  'use strict';

  var root = document.getElementById('dashboard');
  if (!root || typeof echarts === 'undefined') { return; }

  var CYAN = '#35d0ff', GOLD = '#ffc53d', RED = '#ff5b5b', GREEN = '#4cd97b', VIOLET = '#a78bfa';
  var INK = '#e6f0ff', MUTED = '#8fa8cc', LINE = '#1c3d6e';
  var charts = [];

  // Tooltips drawn inside the canvas: HTML tooltips would carry inline styles the CSP refuses.
  var tooltip = function (extra) {
    var t = { renderMode: 'richText', backgroundColor: 'rgba(6,20,40,0.92)', borderColor: LINE,
      textStyle: { color: INK } };
    for (var k in extra) { if (Object.prototype.hasOwnProperty.call(extra, k)) { t[k] = extra[k]; } }
    return t;
  };
  var axisStyle = { axisLine: { lineStyle: { color: LINE } }, axisLabel: { color: MUTED },
    splitLine: { lineStyle: { color: 'rgba(28,61,110,0.5)' } } };
  function axis(o) {
    var a = { axisLine: axisStyle.axisLine, axisLabel: { color: MUTED }, splitLine: axisStyle.splitLine,
      nameTextStyle: { color: MUTED } };
    for (var k in o) { if (Object.prototype.hasOwnProperty.call(o, k)) { a[k] = o[k]; } }
    return a;
  }

  function init(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    var c = echarts.init(el, null, { renderer: 'canvas' });
    charts.push(c);
    return c;
  }
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });

  // Money in fen → the unit that suits the largest value.
  function moneyUnit(maxFen) {
    var yuan = Math.abs(maxFen) / 100;
    if (yuan >= 1e8) { return { div: 1e10, name: '亿元' }; }
    if (yuan >= 1e4) { return { div: 1e6, name: '万元' }; }
    return { div: 100, name: '元' };
  }
  function round2(x) { return Math.round(x * 100) / 100; }

  var METRICS = {
    invested_funds_fen: { name: '帮扶资金', money: true },
    fiscal_funds_fen: { name: '财政帮扶资金', money: true },
    projects: { name: '实施项目', unit: '个' },
    people_out_of_poverty: { name: '脱贫人口', unit: '人' },
    people_remaining: { name: '剩余贫困人口', unit: '人' },
    counties: { name: '对口县', unit: '个' },
    area_km2: { name: '面积', unit: '平方公里' }
  };
  function metricValues(items, key) {
    var m = METRICS[key];
    var max = 0;
    items.forEach(function (o) { max = Math.max(max, Math.abs(o[key] || 0)); });
    var u = m.money ? moneyUnit(max) : { div: 1, name: m.unit };
    return { unit: u.name, name: m.name, value: function (o) { return round2((o[key] || 0) / u.div); } };
  }

  function fail(err) {
    var p = document.createElement('p');
    p.className = 'empty';
    p.textContent = '图表数据未能加载：' + err;
    root.appendChild(p);
  }

  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) { throw new Error('HTTP ' + r.status); }
        return r.json();
      });
  }

  // 速度: people out of poverty by year, and the share still to go after each year.
  function drawSpeed(d) {
    var c = init('chart-speed');
    if (!c) { return; }
    var ys = d.people_by_year.filter(function (y) { return y.year > 0; });
    c.setOption({
      grid: { left: 48, right: 40, top: 24, bottom: 22 },
      tooltip: tooltip({ trigger: 'axis' }),
      legend: { show: false },
      xAxis: axis({ type: 'category', data: ys.map(function (y) { return String(y.year); }) }),
      yAxis: [axis({ type: 'value', name: '人' }),
        axis({ type: 'value', name: '剩余%', max: 100, splitLine: { show: false } })],
      series: [
        { name: '脱贫人口', type: 'bar', data: ys.map(function (y) { return y.people_out_of_poverty; }),
          itemStyle: { color: CYAN } },
        { name: '剩余贫困人口占比(%)', type: 'line', yAxisIndex: 1, smooth: true,
          data: ys.map(function (y) { return y.remaining_share === null ? null : round2(y.remaining_share * 100); }),
          itemStyle: { color: GOLD }, lineStyle: { width: 3 } }
      ]
    });
  }

  // 高度: elevation range of each child (province, county…) as a floating bar.
  function drawHeight(d) {
    var c = init('chart-height');
    if (!c) { return; }
    var items = d.children.filter(function (o) { return o.elevation_min_m !== null; });
    if (!items.length && d.overview.elevation_min_m !== null) { items = [d.overview]; }
    var names = items.map(function (o) { return o.region_name || '全部'; });
    var top = 0;
    items.forEach(function (o) { top = Math.max(top, o.elevation_max_m); });
    var thick = Math.max(top * 0.04, 20); // a single height still shows as a bar
    c.setOption({
      grid: { left: 48, right: 12, top: 18, bottom: 22 },
      tooltip: tooltip({ trigger: 'axis', formatter: function (ps) {
        var o = items[ps[0].dataIndex];
        return (o.region_name || '全部') + '\n' + o.elevation_min_m + '–' + o.elevation_max_m + ' 米';
      } }),
      xAxis: axis({ type: 'category', data: names.map(function (n) { return n.length > 5 ? n.slice(0, 4) + '…' : n; }), axisLabel: { color: MUTED, interval: 0, rotate: names.length > 6 ? 30 : 0 } }),
      yAxis: axis({ type: 'value', name: '米', max: function (v) { return Math.ceil((v.max * 1.18) / 500) * 500; } }),
      series: [
        { type: 'bar', stack: 'h', itemStyle: { color: 'transparent' },
          data: items.map(function (o) { return o.elevation_min_m; }) },
        { type: 'bar', stack: 'h', name: '海拔范围',
          data: items.map(function (o) { return Math.max(o.elevation_max_m - o.elevation_min_m, thick); }),
          label: { show: true, position: 'top', color: INK, fontSize: items.length > 5 ? 10 : 12, formatter: function (p) {
            var o = items[p.dataIndex];
            if (items.length > 5) { return String(o.elevation_max_m); }
            return o.elevation_min_m === o.elevation_max_m ? o.elevation_max_m + 'm' : o.elevation_min_m + '–' + o.elevation_max_m + 'm';
          } },
          itemStyle: { color: new echarts.graphic.LinearGradient(0, 0, 0, 1, [
            { offset: 0, color: '#ffffff' }, { offset: 0.3, color: GREEN }, { offset: 1, color: '#1a5fb4' }]) } }
      ]
    });
  }

  function drawFunds(d) {
    var c = init('chart-funds');
    if (!c) { return; }
    var ys = d.funds_by_year;
    var max = 0;
    ys.forEach(function (y) { max = Math.max(max, Math.abs(y.total_fen)); });
    var u = moneyUnit(max);
    var s = function (name, key, color) {
      return { name: name, type: 'bar', stack: 'f', itemStyle: { color: color },
        data: ys.map(function (y) { return round2(y[key] / u.div); }) };
    };
    c.setOption({
      grid: { left: 56, right: 16, top: 40, bottom: 28 },
      tooltip: tooltip({ trigger: 'axis' }),
      legend: { textStyle: { color: INK }, top: 0 },
      xAxis: axis({ type: 'category', data: ys.map(function (y) { return String(y.year); }) }),
      yAxis: axis({ type: 'value', name: u.name }),
      series: [s('财政资金', 'fiscal_fen', RED), s('企业资金', 'enterprise_fen', GOLD),
        s('基金会资金', 'foundation_fen', CYAN), s('社会捐赠', 'donation_fen', GREEN)]
    });
  }

  function drawThemes(d) {
    var c = init('chart-themes');
    if (!c) { return; }
    var ts = d.themes;
    var max = 0;
    ts.forEach(function (t) { max = Math.max(max, Math.abs(t.funds_fen)); });
    var u = moneyUnit(max);
    c.setOption({
      grid: { left: 80, right: 56, top: 36, bottom: 24 },
      tooltip: tooltip({ trigger: 'axis' }),
      legend: { textStyle: { color: INK }, top: 0 },
      yAxis: axis({ type: 'category', inverse: true, data: ts.map(function (t) { return t.theme_name; }) }),
      xAxis: [axis({ type: 'value', name: u.name }), axis({ type: 'value', name: '个', splitLine: { show: false } })],
      series: [
        { name: '帮扶资金（' + u.name + '）', type: 'bar', data: ts.map(function (t) { return round2(t.funds_fen / u.div); }),
          itemStyle: { color: CYAN }, barGap: '10%' },
        { name: '项目（个）', type: 'bar', xAxisIndex: 1, data: ts.map(function (t) { return t.projects; }),
          itemStyle: { color: GOLD } }
      ]
    });
  }

  function selectedMetric() {
    var sel = document.getElementById('map-metric');
    return sel ? sel.value : 'invested_funds_fen';
  }

  // Children compared (counties of a prefecture, towns of a county…), by the chosen figure.
  function drawChildren(d) {
    var c = init('chart-children');
    if (!c) { return; }
    var draw = function () {
      var m = metricValues(d.children, selectedMetric());
      var items = d.children.slice().sort(function (a, b) { return m.value(b) - m.value(a); }).slice(0, 30);
      c.setOption({
        grid: { left: 110, right: 40, top: 16, bottom: 24 },
        tooltip: tooltip({ trigger: 'axis' }),
        yAxis: axis({ type: 'category', inverse: true, data: items.map(function (o) { return o.region_name; }) }),
        xAxis: axis({ type: 'value', name: m.unit }),
        series: [{ name: m.name, type: 'bar', data: items.map(m.value), itemStyle: { color: CYAN },
          label: { show: true, position: 'right', color: INK } }]
      }, true);
    };
    draw();
    c.on('click', function (p) {
      var o = d.children.find(function (x) { return x.region_name === p.name; });
      if (o) { window.location.href = '/dashboard/' + o.region_code; }
    });
    var sel = document.getElementById('map-metric');
    if (sel) { sel.addEventListener('change', draw); }
  }

  // The map: China by province at the top, a province by prefecture below it. Paired areas
  // are coloured by the chosen figure; a click goes one level down.
  function drawMap(d) {
    var el = document.getElementById('chart-map');
    if (!el) { return Promise.resolve(); }
    var maps = root.getAttribute('data-maps');
    var region = root.getAttribute('data-region');
    var level = root.getAttribute('data-level');
    var query = root.getAttribute('data-query') || '';
    var years = query.split('&').filter(function (p) { return p.indexOf('region=') !== 0 && p; }).join('&');
    var url, mapName;
    if (!level) { url = maps + 'china.json'; mapName = 'china'; } else { url = maps + 'province/' + region + '.json'; mapName = 'p' + region; }
    return getJson(url).then(function (geo) {
      echarts.registerMap(mapName, geo);
      var c = init('chart-map');
      var areas = {}; // map feature name → {figures…, code}
      if (!level) {
        var byId = {};
        geo.features.forEach(function (f) { byId[String(f.properties.id).slice(0, 2)] = f.properties.name; });
        d.children.forEach(function (o) {
          var n = byId[o.region_code];
          if (n) { areas[n] = { o: o, href: '/dashboard/' + o.region_code }; }
        });
      } else {
        // Counties summed into their prefecture, matched to the map by the prefecture's name.
        var names = {};
        (d.prefectures || []).forEach(function (p) { names[p.code] = p.name; });
        d.children.forEach(function (o) {
          var pre = o.region_code.slice(0, 4);
          var n = names[pre];
          if (!n) { return; }
          var a = areas[n] || (areas[n] = { o: { region_name: n }, href: '/dashboard/' + pre });
          Object.keys(METRICS).forEach(function (k) { a.o[k] = (a.o[k] || 0) + (o[k] || 0); });
        });
      }
      var draw = function () {
        var list = Object.keys(areas).map(function (n) { return areas[n].o; });
        var m = metricValues(list, selectedMetric());
        var data = Object.keys(areas).map(function (n) { return { name: n, value: m.value(areas[n].o) }; });
        var max = 0;
        data.forEach(function (x) { max = Math.max(max, x.value); });
        c.setOption({
          tooltip: tooltip({ trigger: 'item', formatter: function (p) {
            if (p.value === undefined || isNaN(p.value)) { return p.name; }
            return p.name + '\n' + m.name + '：' + p.value + ' ' + m.unit;
          } }),
          visualMap: { min: 0, max: max || 1, left: 16, bottom: 16, calculable: true,
            text: [m.name + '（' + m.unit + '）', ''], textStyle: { color: INK },
            inRange: { color: ['#15406f', '#1a7fc4', CYAN, GOLD, RED] } },
          series: [{ name: m.name, type: 'map', map: mapName, roam: false, selectedMode: false,
            left: 8, right: 8, top: level ? 8 : 24, bottom: level ? 8 : 24,
            label: { show: true, color: INK, fontSize: level ? 12 : 13,
              formatter: function (p) { return areas[p.name] ? p.name : ''; } },
            itemStyle: { areaColor: '#0e2a52', borderColor: '#3b6aa5', borderWidth: 0.8 },
            emphasis: { label: { show: true, color: '#fff' }, itemStyle: { areaColor: GOLD } },
            data: data }]
        }, true);
      };
      draw();
      c.on('click', function (p) {
        var a = areas[p.name];
        if (a) { window.location.href = a.href + (years ? '?' + years : ''); }
      });
      var sel = document.getElementById('map-metric');
      if (sel) { sel.addEventListener('change', draw); }
      el.setAttribute('data-ready', 'true');
    });
  }

  // Each pairing's agreement targets against the region's actual figures by year.
  function drawPairings(p) {
    var sel = document.getElementById('pairing-select');
    var c = init('chart-pairings');
    if (!c || !sel) { return; }
    var options = [];
    // First the sums over every pairing shown, one per indicator, then each pairing.
    var totals = {};
    p.items.forEach(function (it) {
      it.targets.forEach(function (t) {
        var k = t.indicator + '|' + t.unit;
        var tot = totals[k] || (totals[k] = { indicator: t.indicator, unit: t.unit, years: {} });
        var y = tot.years[t.year] || (tot.years[t.year] = { year: t.year, target: 0, actual: null });
        y.target += t.target;
        if (t.actual !== null) { y.actual = (y.actual || 0) + t.actual; }
      });
    });
    var rank = function (ind) { var i = ['财政帮扶资金', '脱贫人口', '实施项目'].indexOf(ind); return i < 0 ? 9 : i; };
    Object.keys(totals).sort(function (a, b) { return rank(totals[a].indicator) - rank(totals[b].indicator); }).forEach(function (k) {
      var tot = totals[k];
      var ts = Object.keys(tot.years).map(function (y) {
        var v = tot.years[y];
        return { indicator: tot.indicator, unit: tot.unit, year: v.year, target: v.target, actual: v.actual,
          achieved: v.actual === null || !v.target ? null : v.actual / v.target };
      }).sort(function (a, b) { return a.year - b.year; });
      options.push({ item: { targets: ts }, indicator: tot.indicator, unit: tot.unit,
        label: (p.items.length > 1 ? '全部 ' + p.items.length + ' 个对口关系合计' : p.items[0].region_name) + ' · ' + tot.indicator });
    });
    if (p.items.length > 1) p.items.forEach(function (it) {
      var inds = {};
      it.targets.forEach(function (t) { inds[t.indicator + '|' + t.unit] = true; });
      Object.keys(inds).forEach(function (k) {
        var parts = k.split('|');
        options.push({ item: it, indicator: parts[0], unit: parts[1],
          label: it.region_name + ' · ' + it.organisation + ' · ' + parts[0] });
      });
    });
    if (!options.length) {
      document.getElementById('pairings-empty').hidden = false;
      document.getElementById('chart-pairings').hidden = true;
      sel.hidden = true;
      return;
    }
    options.forEach(function (o, i) {
      var op = document.createElement('option');
      op.value = String(i);
      op.textContent = o.label;
      sel.appendChild(op);
    });
    var draw = function () {
      var o = options[Number(sel.value) || 0];
      var ts = o.item.targets.filter(function (t) { return t.indicator === o.indicator && t.unit === o.unit; });
      c.setOption({
        grid: { left: 56, right: 16, top: 40, bottom: 28 },
        tooltip: tooltip({ trigger: 'axis' }),
        legend: { textStyle: { color: INK }, top: 0 },
        xAxis: axis({ type: 'category', data: ts.map(function (t) { return String(t.year); }) }),
        yAxis: axis({ type: 'value', name: o.unit }),
        series: [
          { name: '协议目标', type: 'bar', data: ts.map(function (t) { return round2(t.target); }), itemStyle: { color: '#3b6aa5' } },
          { name: '实际完成', type: 'bar', data: ts.map(function (t) { return t.actual === null ? null : round2(t.actual); }),
            itemStyle: { color: GOLD },
            label: { show: true, position: 'top', color: INK, formatter: function (q) {
              var t = ts[q.dataIndex];
              return t.achieved === null ? '' : Math.round(t.achieved * 100) + '%';
            } } }
        ]
      }, true);
    };
    sel.addEventListener('change', draw);
    draw();
  }

  var api = root.getAttribute('data-api');
  var pairingsApi = root.getAttribute('data-pairings-api');
  getJson(api).then(function (d) {
    drawSpeed(d);
    drawHeight(d);
    drawFunds(d);
    drawThemes(d);
    drawChildren(d);
    return drawMap(d);
  }).then(function () {
    return getJson(pairingsApi).then(drawPairings);
  }).then(function () {
    root.setAttribute('data-charts', String(charts.length));
  }).catch(function (e) { fail(e && e.message ? e.message : String(e)); });

  // A wall screen stays open: fetch the figures again every five minutes.
  window.setTimeout(function () { window.location.reload(); }, 5 * 60 * 1000);
}());
