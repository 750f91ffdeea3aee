/*
 * Accuracy trend charts of the QA pages (templates/audits/dashboard.html, person.html).
 *
 * Each .trend-chart hands over data-points (JSON: [{day, audited, agreed, accuracy, low,
 * high}], one per day or week with audits), data-start / data-end (the range, YYYY-MM-DD),
 * data-period (day | week: a week starts on Monday), data-target (0..1), data-width,
 * data-height and the messages. The chart is inline SVG: y from 0 to 100 %, one slot per
 * day or week of the range (days without audits stay empty), a point per period at its
 * accuracy with a whisker over its Wilson 95 % interval, and the target as a dashed line.
 * Points below the target are drawn in the "below" class; each point has a tooltip.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var DAY = 86400000;

  function node(name, attrs, text) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) { element.setAttribute(key, attrs[key]); });
    if (text !== undefined) { element.textContent = text; }
    return element;
  }

  function parseDay(text) {
    var parts = text.split("-");
    return Date.UTC(+parts[0], +parts[1] - 1, +parts[2]);
  }

  function monday(time) {
    var weekday = (new Date(time).getUTCDay() + 6) % 7; // Monday = 0
    return time - weekday * DAY;
  }

  function pct(value) {
    return (value * 100).toFixed(1) + "%";
  }

  function draw(box) {
    var points = JSON.parse(box.dataset.points || "[]");
    var width = parseInt(box.dataset.width, 10) || 240;
    var height = parseInt(box.dataset.height, 10) || 80;
    var target = parseFloat(box.dataset.target);
    var weekly = box.dataset.period === "week";
    var step = weekly ? 7 * DAY : DAY;
    var first = parseDay(box.dataset.start);
    var last = parseDay(box.dataset.end);
    if (weekly) {
      first = monday(first);
      last = monday(last);
    }
    var slots = Math.max(1, Math.round((last - first) / step) + 1);
    var big = height >= 150;
    var left = 34;
    var right = 6;
    var top = 6;
    var bottom = big ? 20 : 6;
    var plotW = width - left - right;
    var plotH = height - top - bottom;
    var x = function (time) { return left + ((time - first) / step + 0.5) * (plotW / slots); };
    var y = function (share) { return top + (1 - share) * plotH; };

    box.textContent = "";
    var svg = node("svg", {
      width: width, height: height, viewBox: "0 0 " + width + " " + height, class: "trend",
      role: "img", "aria-label": box.dataset.title || "",
    });
    svg.appendChild(node("rect", { x: left, y: top, width: plotW, height: plotH, class: "frame" }));
    [0, 0.5, 1].forEach(function (share) {
      svg.appendChild(node("line", { x1: left, x2: left + plotW, y1: y(share), y2: y(share), class: "grid" }));
      svg.appendChild(node("text", { x: left - 4, y: y(share) + 3, "text-anchor": "end", class: "axis" }, pct(share).replace(".0", "")));
    });
    var line = node("line", { x1: left, x2: left + plotW, y1: y(target), y2: y(target), class: "target" });
    line.appendChild(node("title", {}, box.dataset.msgTarget + " " + pct(target)));
    svg.appendChild(line);
    if (big) {
      svg.appendChild(node("text", { x: left, y: height - 5, class: "axis" }, new Date(first).toISOString().slice(0, 10)));
      svg.appendChild(node("text", { x: left + plotW, y: height - 5, "text-anchor": "end", class: "axis" }, new Date(last).toISOString().slice(0, 10)));
    }

    var path = "";
    var cap = Math.min(4, plotW / slots / 3);
    points.forEach(function (p) {
      if (p.accuracy === null) { return; }
      var cx = x(parseDay(p.day));
      path += (path ? " L" : "M") + cx.toFixed(1) + " " + y(p.accuracy).toFixed(1);
    });
    if (path) { svg.appendChild(node("path", { d: path, class: "line" })); }
    points.forEach(function (p) {
      if (p.accuracy === null) { return; }
      var cx = x(parseDay(p.day));
      var group = node("g", { class: "period", "data-day": p.day });
      var tip = p.day + ": " + p.agreed + "/" + p.audited + " = " + pct(p.accuracy) +
        " (95%: " + pct(p.low) + "–" + pct(p.high) + ")";
      group.appendChild(node("title", {}, tip));
      group.appendChild(node("line", { x1: cx, x2: cx, y1: y(p.low), y2: y(p.high), class: "whisker" }));
      group.appendChild(node("line", { x1: cx - cap, x2: cx + cap, y1: y(p.low), y2: y(p.low), class: "whisker" }));
      group.appendChild(node("line", { x1: cx - cap, x2: cx + cap, y1: y(p.high), y2: y(p.high), class: "whisker" }));
      group.appendChild(node("circle", {
        cx: cx, cy: y(p.accuracy), r: big ? 4 : 3, class: p.accuracy < target ? "point below" : "point",
      }));
      svg.appendChild(group);
    });
    box.appendChild(svg);
    if (!points.length) {
      var empty = document.createElement("p");
      empty.className = "muted";
      empty.textContent = box.dataset.msgEmpty;
      box.appendChild(empty);
    }
  }

  document.querySelectorAll(".trend-chart[data-points]").forEach(draw);
})();
