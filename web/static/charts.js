// callscope web console: draws every chart element's data (data-chart, JSON written by the
// server from web/charts.py) with Apache ECharts (static/vendor/echarts.min.js, from npm), in
// Chinese when the page is. A point that stands for calls links to them; on the call page a
// turn's point plays the call from that turn. The same numbers are in a table under each
// chart, which is all a page shows without this script.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const SPIKE = "#c0392b";
const FONT = 'system-ui, "Noto Sans CJK SC", sans-serif';

function twoDigits(n) {
  return String(Math.floor(n)).padStart(2, "0");
}

const FORMATS = {
  percent: (v) => `${Math.round(v * 100)}%`,
  clock: (v) => `${twoDigits(v / 60)}:${twoDigits(Math.abs(v) % 60)}`,
  signed: (v) => (v > 0 ? `+${+v.toFixed(2)}` : `${+v.toFixed(2)}`),
  number: (v) => `${v}`,
};

function shortDay(day) {
  return day.slice(5);
}

function spikeStyle(point) {
  return point.spike
    ? { symbolSize: 14, itemStyle: { color: SPIKE, borderWidth: 3 } }
    : {};
}

function daysOption(spec) {
  const line = {
    name: spec.names[0],
    type: "line",
    showAllSymbol: true,
    symbolSize: 7,
    itemStyle: { color: PALETTE[0] },
    lineStyle: { width: 2 },
    data: spec.points.map((p, n) => ({ ...p, date: spec.dates[n], ...spikeStyle(p) })),
  };
  const series = [line];
  if (spec.compare) {
    series.unshift({
      name: spec.names[1],
      type: "line",
      silent: true,
      symbol: "none",
      itemStyle: { color: "#999999" },
      lineStyle: { width: 1.5, type: "dashed" },
      data: spec.compare.map((p) => p.value),
    });
  }
  return {
    grid: { left: 64, right: 16, top: 14, bottom: spec.compare ? 50 : 28 },
    legend: spec.compare ? { bottom: 0, data: spec.names } : { show: false },
    tooltip: { trigger: "item", formatter: (p) => `${p.data.date}: ${p.data.text}` },
    xAxis: { type: "category", boundaryGap: false, data: spec.dates.map(shortDay) },
    yAxis: {
      type: "value",
      splitNumber: 2,
      axisLabel: { formatter: FORMATS[spec.format] },
    },
    series,
  };
}

function trendOption(spec, words) {
  return {
    grid: { left: 56, right: 200, top: 24, bottom: 28 },
    legend: { type: "scroll", orient: "vertical", right: 0, top: 10, width: 190 },
    tooltip: {
      trigger: "item",
      formatter: (p) => `${p.seriesName} ${p.data.date}: ${p.data.text}, ${p.data.calls} ${words.calls}`,
    },
    xAxis: { type: "category", boundaryGap: false, data: spec.dates.map(shortDay) },
    yAxis: { type: "value", min: -5, max: 5, interval: 2.5, name: words.sentiment,
             axisLabel: { formatter: FORMATS.signed } },
    series: spec.series.map((s, n) => ({
      name: s.name,
      type: "line",
      showAllSymbol: true,
      symbolSize: 8,
      itemStyle: { color: PALETTE[n % PALETTE.length] },
      lineStyle: { width: 2 },
      data: s.points.map((p, day) => ({ ...p, date: spec.dates[day] })),
    })),
  };
}

function barColour(value) {
  return value < -1 ? "#c0392b" : value < 0 ? "#e67e22" : "#27ae60";
}

function groupsOption(spec, words) {
  return {
    grid: { left: 220, right: 40, top: 10, bottom: 28 },
    tooltip: {
      trigger: "item",
      formatter: (p) => `${p.name} ${spec.date}: ${p.data.text}, ${p.data.calls} ${words.calls}`,
    },
    xAxis: { type: "value", min: -5, max: 5, interval: 2.5, axisLabel: { formatter: FORMATS.signed } },
    yAxis: {
      type: "category",
      inverse: true,
      data: spec.bars.map((b) => `${b.name} (${b.calls})`),
      axisLabel: { width: 200, overflow: "truncate" },
    },
    series: [{
      type: "bar",
      barMaxWidth: 18,
      data: spec.bars.map((b) => ({ ...b, itemStyle: { color: barColour(b.value) } })),
    }],
  };
}

function incidentsOption(spec, words) {
  const names = spec.bars.map((b) => b.name);
  const colour = (b) => (b.spike ? SPIKE : b.warm_up ? "#cfd6dd" : "#95a5a6");
  return {
    grid: { left: 300, right: 40, top: 10, bottom: 50 },
    legend: { bottom: 0, data: [words.calls, words.expected] },
    tooltip: {
      trigger: "item",
      formatter: (p) => {
        const b = spec.bars[p.dataIndex];
        const expected = b.warm_up ? words.warm_up : `${(b.expected || 0).toFixed(1)} ${words.expected}`;
        return `${b.name}: ${b.calls} ${words.calls}, ${expected}${b.spike ? ` (${words.spike})` : ""}`;
      },
    },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: names, axisLabel: { width: 280, overflow: "truncate" } },
    series: [
      {
        name: words.calls,
        type: "bar",
        barMaxWidth: 18,
        itemStyle: { color: "#95a5a6" },
        data: spec.bars.map((b) => ({ value: b.calls, itemStyle: { color: colour(b) } })),
      },
      {
        name: words.expected,
        type: "scatter",
        symbol: "rect",
        symbolSize: [3, 20],
        itemStyle: { color: "#000" },
        data: spec.bars.map((b, n) => (b.expected === null ? null : [b.expected, names[n]])),
      },
    ],
  };
}

function columnsOption(spec) {
  return {
    grid: { left: 40, right: 16, top: 20, bottom: 28 },
    tooltip: { trigger: "item", formatter: (p) => `${spec.dates[p.dataIndex]}: ${p.data.text}` },
    xAxis: { type: "category", data: spec.dates.map(shortDay) },
    yAxis: { type: "value", minInterval: 1, splitNumber: 3 },
    series: [{
      type: "bar",
      barMaxWidth: 40,
      itemStyle: { color: "#2c7fb8" },
      label: { show: true, position: "top" },
      data: spec.points,
    }],
  };
}

// the call page's sentiment over the call: a point per turn, a line per speaker
const SPEAKER_COLOURS = { customer: "#8e44ad", agent: "#2c7fb8" };
const CURSOR = "#c0392b";

function minutesSeconds(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function turnsOption(spec, words) {
  return {
    grid: { left: 94, right: 16, top: 12, bottom: 44 },
    legend: { bottom: 0, data: spec.series.map((s) => words[s.speaker] || s.speaker) },
    tooltip: {
      trigger: "item",
      formatter: (p) => `${p.seriesName} ${p.data.time}: ${p.data.text}`,
    },
    xAxis: {
      type: "value",
      min: 0,
      max: spec.duration_s,
      axisLabel: { formatter: minutesSeconds, hideOverlap: true },
    },
    yAxis: { type: "value", min: -5, max: 5, interval: 2.5, axisLabel: { formatter: FORMATS.signed } },
    series: spec.series.map((s) => ({
      id: s.speaker,
      name: words[s.speaker] || s.speaker,
      type: "line",
      showAllSymbol: true,
      symbol: s.speaker === "agent" ? "rect" : "circle",
      symbolSize: 9,
      itemStyle: { color: SPEAKER_COLOURS[s.speaker] || PALETTE[7] },
      lineStyle: { width: 1.5, type: s.speaker === "agent" ? "dashed" : "solid" },
      data: s.points,
      markLine: { silent: true, symbol: "none", animation: false, data: [] },
    })),
  };
}

// a click on a turn asks the page (app.js) to play the call from there; the audio's
// position is a red line across the chart while it plays or after a seek
function followAudio(chart, spec) {
  chart.on("click", (params) => {
    if (!params.data || !params.data.value) return;
    const detail = { seconds: params.data.value[0], seg: params.data.seg };
    document.dispatchEvent(new CustomEvent("callscope:seek", { detail }));
  });
  const audio = document.getElementById("audio");
  if (!audio || !spec.series.length) return;
  const first = spec.series[0].speaker;
  const mark = (seconds) => ({
    lineStyle: { color: CURSOR, type: "solid", width: 1.5 },
    label: { show: false },
    data: [{ xAxis: seconds }],
  });
  audio.addEventListener("timeupdate", () => {
    chart.setOption({ series: [{ id: first, markLine: mark(audio.currentTime) }] });
  });
}

const OPTIONS = {
  days: daysOption,
  trend: trendOption,
  groups: groupsOption,
  incidents: incidentsOption,
  columns: columnsOption,
  turns: turnsOption,
};

// horizontal bar charts grow with their rows
function heightOf(spec) {
  const rows = spec.bars ? spec.bars.length : 0;
  return spec.kind === "incidents" ? 70 + 26 * rows : spec.kind === "groups" ? 50 + 26 * rows : null;
}

function drawChart(element, locale) {
  const spec = JSON.parse(element.dataset.chart);
  const words = JSON.parse(element.dataset.words || "{}");
  const height = heightOf(spec);
  if (height) element.style.height = `${height}px`;
  const chart = window.echarts.init(element, null, { locale, renderer: "canvas" });
  const option = OPTIONS[spec.kind](spec, words);
  option.animation = false;
  option.textStyle = { fontFamily: FONT };
  option.tooltip = { ...option.tooltip, renderMode: "richText", confine: true };
  chart.setOption(option);
  chart.on("click", (params) => {
    const url = params.data && params.data.url;
    if (url) window.location.assign(url);
  });
  if (spec.kind === "turns") followAudio(chart, spec);
  return chart;
}

function drawCharts() {
  if (!window.echarts) return;
  const locale = document.documentElement.lang.startsWith("zh") ? "ZH" : "EN";
  const drawn = Array.from(document.querySelectorAll("[data-chart]"), (el) => drawChart(el, locale));
  window.addEventListener("resize", () => drawn.forEach((chart) => chart.resize()));
}

document.addEventListener("DOMContentLoaded", drawCharts);
