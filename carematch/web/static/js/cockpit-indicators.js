/* Indicator cockpit charts: a district choropleth of the chosen indicator (click → drill down),
 * its monthly trend against the target, and the demand forecast's hot spots with an 80 % band.
 *
 * Numbers and every label come from the server (#ind-data, translated), so this file holds no
 * user-facing text; the tables on the page carry the same numbers without JavaScript.
 */
(function () {
  "use strict";

  var source = document.getElementById("ind-data");
  if (!source || typeof window.echarts === "undefined") {
    return;
  }
  var echarts = window.echarts;
  var data = JSON.parse(source.textContent);
  var labels = data.labels;
  var esc = echarts.format.encodeHTML;
  var animate = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var font = parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 16;
  var errorBox = document.getElementById("chart-error");
  var charts = [];
  var COLOURS = { green: "#2e7d32", amber: "#f9a825", red: "#c62828", none: "#90a4ae", no_data: "#cfd8dc" };
  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || "zh-Hans-CN", {
    maximumFractionDigits: 1,
  });

  function showError(message) {
    if (errorBox) {
      errorBox.textContent = message;
      errorBox.hidden = false;
    }
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(
      function (response) {
        if (response.status === 401) {
          var signedOut = new Error("signed out");
          signedOut.signedOut = true;
          throw signedOut;
        }
        if (!response.ok) {
          throw new Error(url + " answered " + response.status);
        }
        return response.json();
      }
    );
  }

  function isShare(values) {
    return values.every(function (v) { return v === null || (v >= -1 && v <= 1); });
  }

  function shown(value, share) {
    if (value === null || value === undefined) {
      return labels.no_data;
    }
    return share ? numberFormat.format(value * 100) + "%" : numberFormat.format(value);
  }

  function link(code) {
    var params = new URLSearchParams({ region: code });
    if (data.period) { params.set("period", data.period); }
    if (data.breakdown) { params.set("breakdown", data.breakdown); }
    if (data.indicator) { params.set("indicator", data.indicator); }
    return "/cockpit/indicators?" + params.toString();
  }

  function drawMap(element, shapes) {
    var byCode = {};
    data.districts.forEach(function (d) { byCode[d.code] = d; });
    echarts.registerMap("carematch-indicator-districts", shapes);
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      animation: animate,
      tooltip: {
        trigger: "item",
        confine: true,
        formatter: function (p) {
          var d = byCode[p.name];
          return d
            ? "<strong>" + esc(d.label) + "</strong><br>" + esc(labels.indicator) + ": " +
              esc(d.shown) + "<br>" + esc(d.status_label)
            : esc(p.name);
        },
      },
      series: [
        {
          type: "map",
          map: "carematch-indicator-districts",
          nameProperty: "code",
          roam: false,
          top: 8,
          bottom: 8,
          label: {
            show: true,
            fontSize: font * 0.8,
            color: "#102a26",
            backgroundColor: "rgba(255, 255, 255, 0.85)",
            padding: [2, 4],
            borderRadius: 3,
            formatter: function (p) {
              var d = byCode[p.name];
              return d ? d.label + "\n" + d.shown : p.name;
            },
          },
          itemStyle: { borderColor: "#ffffff", borderWidth: 1.5 },
          emphasis: { label: { color: "#000000" }, itemStyle: { areaColor: "#80cbc4" } },
          select: { disabled: true },
          data: data.districts.map(function (d) {
            return { name: d.code, value: d.value, itemStyle: { areaColor: COLOURS[d.status] || COLOURS.no_data } };
          }),
        },
      ],
    });
    chart.on("click", function (p) {
      if (byCode[p.name]) {
        window.location.assign(link(p.name));
      }
    });
    element.setAttribute("data-drawn", "true");
    charts.push(chart);
  }

  function drawTrend(element) {
    var values = data.trend.map(function (p) { return p.value; });
    var targets = data.trend.map(function (p) { return p.target; });
    var share = isShare(values.concat(targets));
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      animation: animate,
      textStyle: { fontSize: font * 0.8 },
      tooltip: {
        trigger: "axis",
        confine: true,
        valueFormatter: function (v) { return shown(v, share); },
      },
      legend: { data: [labels.value, labels.target], top: 0 },
      grid: { left: 8, right: 16, bottom: 8, top: 36, containLabel: true },
      xAxis: { type: "category", data: data.trend.map(function (p) { return p.period; }) },
      yAxis: {
        type: "value",
        axisLabel: { formatter: function (v) { return shown(v, share); } },
      },
      series: [
        { name: labels.value, type: "line", data: values, symbolSize: 8, itemStyle: { color: "#1f6f66" } },
        {
          name: labels.target,
          type: "line",
          data: targets,
          symbol: "none",
          lineStyle: { type: "dashed", color: "#c62828" },
          itemStyle: { color: "#c62828" },
        },
      ],
    });
    element.setAttribute("data-drawn", "true");
    charts.push(chart);
  }

  function drawForecast(element, series) {
    var weeks = series.history.map(function (h) { return h.week; })
      .concat(series.forecast.map(function (f) { return f.week; }));
    var pad = series.history.map(function () { return null; });
    var lows = pad.concat(series.forecast.map(function (f) { return f.lo80; }));
    var bands = pad.concat(series.forecast.map(function (f) { return f.hi80 - f.lo80; }));
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      animation: animate,
      textStyle: { fontSize: font * 0.8 },
      tooltip: { trigger: "axis", confine: true },
      legend: { data: [labels.history, labels.forecast, labels.band], top: 0 },
      grid: { left: 8, right: 16, bottom: 8, top: 36, containLabel: true },
      xAxis: { type: "category", data: weeks },
      yAxis: { type: "value", min: 0 },
      series: [
        { name: "lo", type: "line", data: lows, stack: "band", symbol: "none", lineStyle: { opacity: 0 }, tooltip: { show: false } },
        {
          name: labels.band,
          type: "line",
          data: bands,
          stack: "band",
          symbol: "none",
          lineStyle: { opacity: 0 },
          areaStyle: { color: "rgba(31, 111, 102, 0.2)" },
          itemStyle: { color: "rgba(31, 111, 102, 0.4)" },
        },
        {
          name: labels.history,
          type: "line",
          data: series.history.map(function (h) { return h.value; }),
          symbol: "none",
          itemStyle: { color: "#37474f" },
        },
        {
          name: labels.forecast,
          type: "line",
          data: pad.concat(series.forecast.map(function (f) { return f.forecast; })),
          symbol: "none",
          lineStyle: { type: "dashed" },
          itemStyle: { color: "#1f6f66" },
        },
      ],
    });
    element.setAttribute("data-drawn", "true");
    charts.push(chart);
  }

  function cell(row, text, numeric) {
    var td = document.createElement(row.children.length ? "td" : "th");
    if (!row.children.length) { td.setAttribute("scope", "row"); }
    if (numeric) { td.className = "num"; }
    td.textContent = text;
    row.appendChild(td);
  }

  function loadForecast() {
    var box = document.getElementById("forecast");
    var table = document.getElementById("hotspots");
    var empty = document.getElementById("hotspots-empty");
    if (!box || !table) {
      return Promise.resolve();
    }
    var district = box.getAttribute("data-district");
    return getJSON("/api/v1/forecasting/hotspots?horizon=13&limit=500").then(function (found) {
      var items = found.items.filter(function (s) { return !district || s.district === district; }).slice(0, 5);
      box.setAttribute("data-hotspots", String(items.length));
      if (!items.length) {
        empty.hidden = false;
        return null;
      }
      var names = {};
      data.districts.forEach(function (d) { names[d.code] = d.label; });
      var body = table.querySelector("tbody");
      items.forEach(function (s) {
        var row = document.createElement("tr");
        row.setAttribute("data-id", s.id);
        cell(row, names[s.district] || s.district);
        cell(row, labels.services[s.service] || s.service);
        cell(row, numberFormat.format(s.recent_weekly), true);
        cell(row, numberFormat.format(s.expected_weekly), true);
        cell(row, numberFormat.format(s.expected_lo80) + "–" + numberFormat.format(s.expected_hi80), true);
        body.appendChild(row);
      });
      table.hidden = false;
      var top = items[0];
      return getJSON(
        "/api/v1/forecasting/series?horizon=13&district=" + encodeURIComponent(top.district) +
        "&service=" + encodeURIComponent(top.service)
      ).then(function (series) {
        document.getElementById("forecast-box").hidden = false;
        document.getElementById("forecast-caption").textContent =
          labels.forecast_title + ": " + (names[top.district] || top.district) + " · " +
          (labels.services[top.service] || top.service);
        drawForecast(document.getElementById("ind-forecast"), series);
      });
    });
  }

  var mapElement = document.getElementById("ind-map");
  var trendElement = document.getElementById("ind-trend");
  var charts_root = document.getElementById("ind-charts");
  if (trendElement) {
    drawTrend(trendElement);
  }
  var work = [];
  if (mapElement && charts_root) {
    work.push(getJSON(charts_root.getAttribute("data-map-url")).then(function (shapes) {
      drawMap(mapElement, shapes);
    }));
  }
  work.push(loadForecast());
  Promise.all(work).catch(function (error) {
    showError(error && error.signedOut ? labels.signed_out : labels.load_error);
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
