/* Cockpit budget chart: the riskiest communities' proposed amounts (bars) and risk index (line).
 *
 * The numbers and every label come from the server (#budget-data), so this file holds no
 * user-facing text; the table on the page carries the same numbers for readers without
 * JavaScript or a screen.
 */
(function () {
  "use strict";

  var element = document.getElementById("budget-chart");
  var source = document.getElementById("budget-data");
  if (!element || !source || typeof window.echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var labels = data.labels;
  var animate = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var font = parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 16;
  var chart = window.echarts.init(element, null, { renderer: "canvas" });
  chart.setOption({
    animation: animate,
    textStyle: { fontSize: font * 0.8 },
    tooltip: { trigger: "axis", confine: true },
    legend: { data: [labels.amount, labels.index], top: 0 },
    grid: { left: 8, right: 8, bottom: 8, top: 40, containLabel: true },
    xAxis: {
      type: "category",
      data: data.rows.map(function (r) { return r.name; }),
      axisLabel: { interval: 0, rotate: 40 },
    },
    yAxis: [
      { type: "value", name: labels.amount },
      { type: "value", name: labels.index, min: 0, max: 100 },
    ],
    series: [
      {
        name: labels.amount,
        type: "bar",
        data: data.rows.map(function (r) { return r.amount; }),
        itemStyle: { color: "#1f6f66" },
      },
      {
        name: labels.index,
        type: "line",
        yAxisIndex: 1,
        data: data.rows.map(function (r) { return r.index; }),
        itemStyle: { color: "#b23b3b" },
      },
    ],
  });
  element.setAttribute("data-drawn", "true");
  window.addEventListener("resize", function () { chart.resize(); });
})();
