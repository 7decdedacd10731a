// wattprint dashboard: the run page's power chart (zoom, hover) and the runs list's picker.
// Plain JS, no library, no network beyond this origin. Text from the server is only ever
// set with textContent or SVG attributes, never parsed as HTML.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var W = 960, H = 320, ML = 64, MR = 16, MT = 16, MB = 40;
  var PW = W - ML - MR, PH = H - MT - MB;

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceStep(span, target) {
    if (!(span > 0)) return 1;
    var raw = span / target, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var ms = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < ms.length; i++) if (raw <= ms[i] * mag) return ms[i] * mag;
    return 10 * mag;
  }

  function fmt(x) {
    if (!isFinite(x)) return "-";
    if (x === 0) return "0";
    var a = Math.abs(x);
    if (a >= 1000) return x.toFixed(0);
    var text = x.toPrecision(3);  // "100", "12.0", "0.000123", "1.00e-7"
    return text.indexOf(".") >= 0 && text.indexOf("e") < 0 ? text.replace(/\.?0+$/, "") : text;
  }

  function timeUnit(span) {
    if (span <= 180) return [1, "s"];
    if (span <= 3 * 3600) return [60, "min"];
    return [3600, "h"];
  }

  function Chart(box) {
    this.box = box;
    this.url = box.getAttribute("data-series");
    this.reset = document.getElementById("zoom-reset");
    this.note = document.getElementById("chart-note");
    var self = this;
    if (this.reset) this.reset.addEventListener("click", function () { self.load(null); });
    this.load(null);
  }

  Chart.prototype.load = function (range) {
    var self = this, url = this.url + "?points=" + Math.max(200, Math.min(2000, PW));
    if (range) url += "&t0=" + encodeURIComponent(range[0]) + "&t1=" + encodeURIComponent(range[1]);
    this.box.setAttribute("data-state", "loading");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        self.draw(data, range);
        if (self.reset) self.reset.disabled = !range;
        self.box.setAttribute("data-state", "ready");
      })
      .catch(function (err) {
        if (self.note) self.note.textContent = "could not load the chart: " + err.message;
        self.box.setAttribute("data-state", "error");
      });
  };

  Chart.prototype.series = function (data) {
    var list = data.channels.map(function (c) {
      return { key: c.name, color: c.color, dashed: !c.in_total, values: data.w[c.name] || [] };
    });
    var counted = data.channels.filter(function (c) { return c.in_total; }).length;
    if (counted > 1) list.push({ key: "total", color: data.total_color, dashed: true, values: data.w.total || [] });
    return list;
  };

  Chart.prototype.draw = function (data, range) {
    var old = this.box.querySelector("svg.chart");
    if (old) old.remove();
    var oldLegend = this.box.querySelector(".legend");
    if (oldLegend) oldLegend.remove();
    var t = data.t;
    if (!t.length) {
      if (this.note) this.note.textContent = "No timeline was recorded for this run.";
      return;
    }
    var x0 = range ? range[0] : t[0][0], x1 = range ? range[1] : t[t.length - 1][1];
    if (!(x1 > x0)) x1 = x0 + 1;
    var list = this.series(data), top = 0;
    list.forEach(function (s) { s.values.forEach(function (v) { if (v > top) top = v; }); });
    var ystep = niceStep(top || 1, 5), ymax = ystep * Math.max(1, Math.ceil((top || 1) / ystep));
    var sx = function (v) { return ML + (Math.min(Math.max(v, x0), x1) - x0) / (x1 - x0) * PW; };
    var sy = function (w) { return MT + PH - (w / ymax) * PH; };
    var svg = el("svg", { "class": "chart", id: "power-chart", viewBox: "0 0 " + W + " " + H, width: "100%",
      role: "img", "aria-label": "power over time per channel", "data-x0": x0, "data-x1": x1,
      "data-ymax": ymax, "data-plot": ML + " " + MT + " " + PW + " " + PH, "data-rows": data.rows,
      "data-intervals": data.intervals, "data-exact": data.exact ? "1" : "0" });
    this.axes(svg, x0, x1, ymax, ystep, sx, sy);
    list.forEach(function (s) {
      var pts = [];
      for (var k = 0; k < t.length; k++) {
        var y = sy(s.values[k]).toFixed(3);
        pts.push(sx(t[k][0]).toFixed(3) + "," + y, sx(t[k][1]).toFixed(3) + "," + y);
      }
      el("polyline", { "class": "series", "data-channel": s.key, stroke: s.color, points: pts.join(" "),
        "stroke-dasharray": s.dashed ? "6 4" : "none" }, svg);
    });
    this.box.appendChild(svg);
    this.legend(list);
    this.interact(svg, data, list, x0, x1, sx);
    if (this.note) {
      this.note.textContent = data.rows + " rows " + (range ? "in view " : "") + "drawn as " + t.length +
        " steps (the run has " + data.intervals + " stored intervals; " +
        (data.exact ? "full resolution" : "merged") + "); drag to zoom, hover for values";
    }
  };

  Chart.prototype.axes = function (svg, x0, x1, ymax, ystep, sx, sy) {
    for (var k = 0; k * ystep <= ymax + 1e-9; k++) {
      var y = sy(k * ystep);
      el("line", { "class": "grid", x1: ML, x2: ML + PW, y1: y, y2: y }, svg);
      el("text", { x: ML - 6, y: y + 4, "text-anchor": "end" }, svg).textContent = fmt(k * ystep);
    }
    var u = timeUnit(x1 - x0), xstep = niceStep((x1 - x0) / u[0], 8) * u[0];
    for (var tt = Math.ceil(x0 / xstep) * xstep; tt <= x1 + 1e-9; tt += xstep) {
      el("line", { "class": "axis", x1: sx(tt), x2: sx(tt), y1: MT + PH, y2: MT + PH + 5 }, svg);
      el("text", { x: sx(tt), y: MT + PH + 18, "text-anchor": "middle" }, svg).textContent = fmt(tt / u[0]);
    }
    el("text", { x: ML + PW / 2, y: H - 4, "text-anchor": "middle" }, svg).textContent =
      "time since start (" + u[1] + ")";
    el("text", { x: 14, y: MT + PH / 2, transform: "rotate(-90 14 " + (MT + PH / 2) + ")",
      "text-anchor": "middle" }, svg).textContent = "power (W)";
    el("line", { "class": "axis", x1: ML, x2: ML + PW, y1: MT + PH, y2: MT + PH }, svg);
    el("line", { "class": "axis", x1: ML, x2: ML, y1: MT, y2: MT + PH }, svg);
  };

  Chart.prototype.legend = function (list) {
    var div = document.createElement("div");
    div.className = "legend";
    list.forEach(function (s) {
      var item = document.createElement("span"), sw = el("svg", { width: 16, height: 6 });
      el("line", { x1: 0, x2: 16, y1: 3, y2: 3, stroke: s.color, "stroke-width": 3 }, sw);
      item.appendChild(sw);
      item.appendChild(document.createTextNode(" " + s.key + (s.dashed && s.key !== "total" ? " (not summed)" : "")));
      div.appendChild(item);
    });
    this.box.appendChild(div);
  };

  Chart.prototype.interact = function (svg, data, list, x0, x1, sx) {
    var self = this, t = data.t;
    var cursor = el("line", { "class": "cursor", x1: 0, x2: 0, y1: MT, y2: MT + PH, visibility: "hidden" }, svg);
    var brush = el("rect", { "class": "brush", x: 0, y: MT, width: 0, height: PH, visibility: "hidden" }, svg);
    var tip = el("g", { "class": "tip", visibility: "hidden" }, svg);
    var tipBox = el("rect", { x: 0, y: 0, width: 10, height: 10, rx: 4 }, tip);
    var overlay = el("rect", { "class": "overlay", x: ML, y: MT, width: PW, height: PH }, svg);
    var start = null;
    function timeAt(evt) {
      var p = svg.createSVGPoint();
      p.x = evt.clientX; p.y = evt.clientY;
      var loc = p.matrixTransform(svg.getScreenCTM().inverse());
      return [loc.x, x0 + (Math.min(Math.max(loc.x, ML), ML + PW) - ML) / PW * (x1 - x0)];
    }
    function bucket(time) {
      var lo = 0, hi = t.length - 1;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (t[mid][1] <= time) lo = mid + 1; else hi = mid; }
      return lo;
    }
    function showTip(x, k) {
      while (tip.childNodes.length > 1) tip.removeChild(tip.lastChild);
      var lines = ["t " + fmt(t[k][0]) + "–" + fmt(t[k][1]) + " s"].concat(list.map(function (s) {
        return s.key + ": " + fmt(s.values[k]) + " W";
      }));
      lines.forEach(function (line, i) {
        el("text", { x: 8, y: 16 + i * 15 }, tip).textContent = line;
      });
      var width = 12 + 7 * Math.max.apply(null, lines.map(function (l) { return l.length; }));
      tipBox.setAttribute("width", width);
      tipBox.setAttribute("height", 8 + 15 * lines.length);
      var tx = x + 12 + width > W ? x - 12 - width : x + 12;
      tip.setAttribute("transform", "translate(" + tx + "," + (MT + 4) + ")");
      tip.setAttribute("visibility", "visible");
      tip.setAttribute("data-index", k);
    }
    overlay.addEventListener("mousemove", function (evt) {
      var at = timeAt(evt), k = bucket(at[1]);
      cursor.setAttribute("x1", at[0]); cursor.setAttribute("x2", at[0]);
      cursor.setAttribute("visibility", "visible");
      showTip(at[0], k);
      if (start) {
        brush.setAttribute("x", Math.min(start[0], at[0]));
        brush.setAttribute("width", Math.abs(at[0] - start[0]));
        brush.setAttribute("visibility", "visible");
      }
    });
    overlay.addEventListener("mouseleave", function () {
      cursor.setAttribute("visibility", "hidden"); tip.setAttribute("visibility", "hidden");
    });
    overlay.addEventListener("mousedown", function (evt) { evt.preventDefault(); start = timeAt(evt); });
    overlay.addEventListener("mouseup", function (evt) {
      if (!start) return;
      var end = timeAt(evt), a = Math.min(start[1], end[1]), b = Math.max(start[1], end[1]);
      var moved = Math.abs(end[0] - start[0]);
      start = null;
      brush.setAttribute("visibility", "hidden");
      if (moved >= 4 && b > a) self.load([a, b]);
    });
  };

  function initPicker(form) {
    var button = document.getElementById("compare-btn");
    function update() {
      var n = form.querySelectorAll("input[name=id]:checked").length;
      if (button) button.textContent = n ? "Compare selected (" + n + ")" : "Compare selected";
    }
    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("chart");
    if (box) new Chart(box);
    var pick = document.getElementById("pick");
    if (pick) initPicker(pick);
  });
})();
