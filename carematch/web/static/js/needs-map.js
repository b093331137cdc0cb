/* The needs map on a person's workbench page: the resident's community centre and the
 * recommended providers, over the district outlines when the city has them.
 *
 * Every label comes translated from the server (#needs-map-data); the ranked list on the page
 * carries the same information for readers without JavaScript or a screen.
 */
(function () {
  "use strict";

  var box = document.getElementById("needs-map");
  var source = document.getElementById("needs-map-data");
  if (!box || !source || typeof window.echarts === "undefined") {
    return;
  }
  var echarts = window.echarts;
  var data = JSON.parse(source.textContent);
  var esc = echarts.format.encodeHTML;
  var animate = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function points(geo) {
    var byService = {};
    data.providers.forEach(function (p) {
      (byService[p.service] = byService[p.service] || []).push({
        name: p.name,
        value: [p.lon, p.lat],
        rank: p.rank,
        reason: p.reason,
      });
    });
    var series = Object.keys(byService).map(function (service) {
      return {
        name: service,
        type: "scatter",
        coordinateSystem: geo ? "geo" : "cartesian2d",
        symbolSize: 12,
        data: byService[service],
        tooltip: {
          formatter: function (item) {
            return "<strong>" + esc(item.name) + "</strong><br>" + esc(item.data.reason);
          },
        },
      };
    });
    series.push({
      name: data.person.label,
      type: "effectScatter",
      coordinateSystem: geo ? "geo" : "cartesian2d",
      symbol: "pin",
      symbolSize: 26,
      itemStyle: { color: "#c62828" },
      data: [{ name: data.person.label, value: [data.person.lon, data.person.lat] }],
    });
    return series;
  }

  function draw(geo) {
    var chart = echarts.init(box);
    var option = {
      animation: animate,
      tooltip: { trigger: "item" },
      legend: { type: "scroll", bottom: 0 },
      series: points(geo),
    };
    if (geo) {
      option.geo = {
        map: "workbench-districts",
        roam: true,
        center: [data.person.lon, data.person.lat],
        zoom: 3,
        itemStyle: { areaColor: "#eef3f1", borderColor: "#8aa39b" },
        emphasis: { disabled: true },
      };
    } else {
      option.xAxis = { type: "value", scale: true, show: false };
      option.yAxis = { type: "value", scale: true, show: false };
    }
    chart.setOption(option);
    box.setAttribute("data-drawn", geo ? "geo" : "plain");
    window.addEventListener("resize", function () {
      chart.resize();
    });
  }

  fetch(box.getAttribute("data-map-url"), {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("no outlines");
      }
      return response.json();
    })
    .then(function (shapes) {
      echarts.registerMap("workbench-districts", shapes);
      draw(true);
    })
    .catch(function () {
      try {
        draw(false);
      } catch (e) {
        var error = document.getElementById("map-error");
        error.textContent = data.labels.error;
        error.hidden = false;
      }
    });
})();
