// The strategy page's chart: the market's recent prices from the service's feed, the fills as
// markers, the open cycle's average entry and take-profit, and the resting orders as lines.
// Polls its JSON every 2 s. lightweight-charts is vendored (static/vendor): nothing loads from
// elsewhere.
(function () {
  "use strict";
  var LWC = window.LightweightCharts;
  var box = document.getElementById("chart");
  if (!LWC || !box) { return; }

  var chart = LWC.createChart(box, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: "#334" },
    grid: { vertLines: { color: "#eef" }, horzLines: { color: "#eef" } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { borderVisible: false }
  });
  var series = chart.addSeries(LWC.LineSeries, { color: "#2962ff", lineWidth: 2 });
  var markers = LWC.createSeriesMarkers(series, []);
  var lines = [];
  var fitted = false;

  function line(price, color, title, style) {
    return series.createPriceLine({
      price: parseFloat(price), color: color, lineWidth: 1, lineStyle: style,
      axisLabelVisible: true, title: title
    });
  }

  function snap(times, t) {
    // Markers sit on a point of the series: the last one at or before the fill.
    var lo = 0, hi = times.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (times[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found < 0 ? null : times[found];
  }

  function draw(data) {
    var seen = {};
    var points = [];
    data.prices.forEach(function (p) {
      if (!seen[p[0]]) { seen[p[0]] = true; points.push({ time: p[0], value: parseFloat(p[1]) }); }
    });
    if (!points.length) {
      // No feed of this market in this process: the fills alone draw the line.
      data.fills.slice().reverse().forEach(function (f) {
        if (!seen[f.time]) { seen[f.time] = true; points.push({ time: f.time, value: parseFloat(f.price) }); }
      });
    }
    points.sort(function (a, b) { return a.time - b.time; });
    var digits = 2;
    data.prices.concat(data.fills.map(function (f) { return [0, f.price]; })).forEach(function (p) {
      var dot = String(p[1]).indexOf(".");
      if (dot >= 0) { digits = Math.max(digits, String(p[1]).length - dot - 1); }
    });
    digits = Math.min(digits, 8);
    series.applyOptions({ priceFormat: { type: "price", precision: digits, minMove: Math.pow(10, -digits) } });
    series.setData(points);
    var times = points.map(function (p) { return p.time; });
    var marks = [];
    data.fills.forEach(function (f) {
      var at = snap(times, f.time);
      if (at === null) { return; }
      var buy = f.side === "buy";
      marks.push({
        time: at, position: buy ? "belowBar" : "aboveBar", color: buy ? "#089981" : "#f23645",
        shape: buy ? "arrowUp" : "arrowDown", text: (buy ? "B " : "S ") + f.price
      });
    });
    marks.sort(function (a, b) { return a.time - b.time; });
    markers.setMarkers(marks);
    lines.forEach(function (l) { series.removePriceLine(l); });
    lines = [];
    if (data.average) { lines.push(line(data.average, "#ff9800", "avg", LWC.LineStyle.Solid)); }
    if (data.take_profit) { lines.push(line(data.take_profit, "#089981", "TP", LWC.LineStyle.Dashed)); }
    data.orders.forEach(function (o) {
      if (o.side === "buy") { lines.push(line(o.price, "#9c27b0", o.leg, LWC.LineStyle.Dotted)); }
    });
    if (!fitted && points.length) { chart.timeScale().fitContent(); fitted = true; }
    box.setAttribute("data-points", String(points.length));
    box.setAttribute("data-markers", String(marks.length));
  }

  function poll() {
    fetch(box.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { draw(data); } })
      .catch(function () { /* the page's notice reports a service that does not answer */ })
      .finally(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
