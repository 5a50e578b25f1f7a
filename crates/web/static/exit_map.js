// The exit-progress map (Apache ECharts): provinces of China, or the prefectures of one
// province, coloured by poverty incidence over the counties assessed there (remaining poor ÷
// rural registered population, summed by the server into data-areas). Loaded as a file: the
// CSP allows no inline script. The table and the bar chart above it work without it.
(function () {
  'use strict';

  var root = document.getElementById('exit-map');
  if (!root || typeof echarts === 'undefined') { return; }
  var el = document.getElementById('exit-map-chart');
  var areas = JSON.parse(root.getAttribute('data-areas') || '[]');
  var mapName = root.getAttribute('data-map-name');

  function fail(err) {
    var p = document.createElement('p');
    p.className = 'empty';
    p.textContent = '地图未能加载：' + err;
    root.appendChild(p);
  }

  // A map feature's area: by code (the China map's features carry the province code), else by
  // name (the province maps name prefectures as the region list does; the China map shortens
  // 广西壮族自治区 to 广西).
  function areaOf(feature) {
    var id = String(feature.id || (feature.properties && feature.properties.id) || '');
    var name = feature.properties ? feature.properties.name : '';
    var i, a;
    for (i = 0; i < areas.length; i++) {
      a = areas[i];
      if (id && id.indexOf(a.code) === 0) { return a; }
    }
    for (i = 0; i < areas.length; i++) {
      a = areas[i];
      if (name && (a.name === name || a.name.indexOf(name) === 0)) { return a; }
    }
    return null;
  }

  fetch(root.getAttribute('data-map-url'), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r.json();
    })
    .then(function (geo) {
      echarts.registerMap(mapName, geo);
      var byFeature = {};
      geo.features.forEach(function (f) {
        var a = areaOf(f);
        if (a) { byFeature[f.properties.name] = a; }
      });
      var max = 3;
      var data = Object.keys(byFeature).map(function (n) {
        var a = byFeature[n];
        if (a.incidence_pct !== null) { max = Math.max(max, a.incidence_pct); }
        return { name: n, value: a.incidence_pct === null ? NaN : a.incidence_pct };
      });
      var chart = echarts.init(el, null, { renderer: 'canvas' });
      window.addEventListener('resize', function () { chart.resize(); });
      chart.setOption({
        // Drawn inside the canvas: HTML tooltips would carry inline styles the CSP refuses.
        tooltip: { trigger: 'item', renderMode: 'richText', formatter: function (p) {
          var a = byFeature[p.name];
          if (!a) { return p.name; }
          return p.name + '\n贫困发生率：' + (a.incidence_pct === null ? '缺少农业户籍人口' : a.incidence_pct + '%') +
            '\n达到标准的县：' + a.passed + ' / ' + a.counties + '\n剩余贫困人口：' + a.remaining;
        } },
        visualMap: { min: 0, max: Math.ceil(max), left: 8, bottom: 8, calculable: true, text: ['贫困发生率（%）', ''],
          inRange: { color: ['#2e7d32', '#f9a825', '#c62828'] } },
        series: [{ name: '贫困发生率', type: 'map', map: mapName, roam: false, selectedMode: false,
          label: { show: true, fontSize: 11, formatter: function (p) { return byFeature[p.name] ? p.name : ''; } },
          itemStyle: { areaColor: '#eef1f4', borderColor: '#9aa5b1', borderWidth: 0.6 },
          emphasis: { label: { show: true }, itemStyle: { areaColor: '#90caf9' } },
          data: data }]
      });
      chart.on('click', function (p) {
        var a = byFeature[p.name];
        if (a) { window.location.href = a.href; }
      });
      el.setAttribute('data-ready', 'true');
      el.setAttribute('data-areas-shown', String(Object.keys(byFeature).length));
    })
    .catch(function (e) { fail(e && e.message ? e.message : e); });
})();
