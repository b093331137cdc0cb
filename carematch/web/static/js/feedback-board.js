/* The public progress board's charts: complaints by status and by category, rectification
 * items by status, as horizontal bars (labels stay readable on a 375-pixel phone).
 *
 * The numbers and every label come from the page (#board-data), translated on the server, so
 * this file holds no user-facing text. The table beside each chart carries the same numbers.
 */
(function () {
  "use strict";

  var root = document.getElementById("board");
  var source = document.getElementById("board-data");
  if (!root || !source) {
    return;
  }
  var errorBox = document.getElementById("chart-error");
  var data = JSON.parse(source.textContent);
  if (typeof window.echarts === "undefined") {
    errorBox.textContent = data.labels.load_error;
    errorBox.hidden = false;
    return;
  }
  var echarts = window.echarts;
  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || "zh-Hans-CN");
  var animate = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var charts = [];
  var COLORS = {
    overdue: "#c62828",
    rejected: "#8d6e63",
    verified: "#2e7d32",
    closed: "#2e7d32",
  };

  function baseFontSize() {
    return parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 16;
  }

  function bars(elementId, rows, seriesName) {
    var element = document.getElementById(elementId);
    if (!element) {
      return;
    }
    var font = baseFontSize();
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      animation: animate,
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        confine: true,
        valueFormatter: function (value) {
          return numberFormat.format(value);
        },
      },
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      xAxis: {
        type: "value",
        minInterval: 1,
        axisLabel: {
          fontSize: font * 0.75,
          hideOverlap: true,
          formatter: function (value) {
            return numberFormat.format(value);
          },
        },
      },
      yAxis: {
        type: "category",
        inverse: true,
        data: rows.map(function (row) {
          return row.label;
        }),
        axisLabel: { fontSize: font * 0.8 },
      },
      series: [
        {
          name: seriesName,
          type: "bar",
          label: { show: true, position: "right", fontSize: font * 0.75 },
          data: rows.map(function (row) {
            return {
              value: row.count,
              itemStyle: { color: COLORS[row.code] || "#00897b" },
            };
          }),
        },
      ],
    });
    charts.push(chart);
  }

  try {
    bars("complaint-status-chart", data.complaint_status, data.labels.complaints);
    bars("complaint-category-chart", data.complaint_category, data.labels.complaints);
    bars("item-status-chart", data.item_status, data.labels.items);
    root.dataset.ready = "true";
  } catch (error) {
    errorBox.textContent = data.labels.load_error;
    errorBox.hidden = false;
    root.dataset.ready = "error";
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) {
      chart.resize();
    });
  });
})();
