/* Cockpit charts: the district map (districts.geojson via echarts.registerMap) and a bar chart.
 *
 * Every label comes translated from the server (#cockpit-labels), so this file holds no
 * user-facing text. The table on the page carries the same numbers for readers without
 * JavaScript or a screen.
 */
(function () {
  "use strict";

  var root = document.getElementById("cockpit");
  if (!root || typeof window.echarts === "undefined") {
    return;
  }
  var echarts = window.echarts;
  var labels = JSON.parse(document.getElementById("cockpit-labels").textContent);
  var errorBox = document.getElementById("chart-error");
  var charts = [];
  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || "zh-Hans-CN");
  var esc = echarts.format.encodeHTML;
  // Honour the reader's "reduce motion" setting: draw the final picture without transitions.
  var animate = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function fmt(value) {
    return numberFormat.format(value);
  }

  // Chart text follows the page's text size, so the large-text mode enlarges the charts too.
  function baseFontSize() {
    return parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 16;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function getJSON(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401) {
        var signedOut = new Error("signed out");
        signedOut.signedOut = true;
        throw signedOut;
      }
      if (!response.ok) {
        throw new Error(url + " answered " + response.status);
      }
      return response.json();
    });
  }

  function tooltip(district) {
    return (
      "<strong>" + esc(district.label) + "</strong><br>" +
      esc(labels.persons) + ": " + fmt(district.persons) + "<br>" +
      esc(labels.migrants) + ": " + fmt(district.migrants) + "<br>" +
      esc(labels.records) + ": " + fmt(district.records)
    );
  }

  function drawMap(element, shapes, data) {
    var byCode = {};
    data.districts.forEach(function (d) {
      byCode[d.code] = d;
    });
    var max = Math.max.apply(null, [1].concat(data.districts.map(function (d) {
      return d.persons;
    })));
    var font = baseFontSize();
    echarts.registerMap("carematch-districts", shapes);
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      animation: animate,
      tooltip: {
        trigger: "item",
        confine: true,
        formatter: function (p) {
          return byCode[p.name] ? tooltip(byCode[p.name]) : esc(p.name);
        },
      },
      visualMap: {
        type: "continuous",
        min: 0,
        max: max,
        orient: "horizontal",
        left: "center",
        bottom: 0,
        itemHeight: 120,
        text: [fmt(max), "0"],
        textStyle: { fontSize: font * 0.8 },
        inRange: { color: ["#e3f2ef", "#4db6ac", "#00695c"] },
        calculable: false,
      },
      series: [
        {
          type: "map",
          map: "carematch-districts",
          // Features are matched by their region code, not by name: names differ by language.
          nameProperty: "code",
          roam: false,
          top: 8,
          bottom: 48,
          label: {
            show: true,
            fontSize: font * 0.85,
            color: "#102a26",
            formatter: function (p) {
              return byCode[p.name] ? byCode[p.name].label : p.name;
            },
          },
          itemStyle: { borderColor: "#ffffff", borderWidth: 1.5 },
          emphasis: {
            label: { color: "#000000" },
            itemStyle: { areaColor: "#ffb74d" },
          },
          select: { disabled: true },
          data: data.districts.map(function (d) {
            return { name: d.code, value: d.persons };
          }),
        },
      ],
    });
    charts.push(chart);
  }

  function drawBars(element, data) {
    var font = baseFontSize();
    var names = data.districts.map(function (d) {
      return d.label;
    });
    function series(key, color) {
      return {
        name: labels[key],
        type: "bar",
        itemStyle: { color: color },
        data: data.districts.map(function (d) {
          return d[key];
        }),
      };
    }
    var chart = echarts.init(element, null, { renderer: "canvas" });
    // Horizontal bars: district names stay readable on a 375-pixel phone.
    chart.setOption({
      animation: animate,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      legend: { top: 0, textStyle: { fontSize: font * 0.8 } },
      grid: { left: 8, right: 16, top: font * 2.5, bottom: 8, containLabel: true },
      xAxis: {
        type: "value",
        axisLabel: { fontSize: font * 0.75, formatter: fmt, hideOverlap: true },
      },
      yAxis: {
        type: "category",
        inverse: true,
        data: names,
        axisLabel: { fontSize: font * 0.8 },
      },
      series: [
        series("persons", "#00897b"),
        series("migrants", "#f57c00"),
        series("records", "#5c6bc0"),
      ],
    });
    charts.push(chart);
  }

  var mapElement = document.getElementById("district-map");
  var barElement = document.getElementById("district-bar");
  var mapUrl = root.dataset.mapUrl;
  Promise.all([
    getJSON(root.dataset.dataUrl),
    mapUrl && mapElement ? getJSON(mapUrl) : Promise.resolve(null),
  ])
    .then(function (results) {
      var data = results[0];
      var shapes = results[1];
      if (shapes && mapElement) {
        drawMap(mapElement, shapes, data);
      }
      drawBars(barElement, data);
      root.dataset.ready = "true";
    })
    .catch(function (error) {
      showError(error.signedOut ? labels.signed_out : labels.load_error);
      root.dataset.ready = "error";
    });

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) {
      chart.resize();
    });
  });
})();
