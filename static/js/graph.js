// The fund flow on the case file (templates/funds/case_detail.html): draws
// GET /api/v1/cases/{id}/graph/ with ECharts (static/vendor/echarts-6.1.0), accounts by layer
// from left to right (the victims at the left), a line's width growing with the amount, each
// account coloured by its stage; a click on an account loads its transfers and requests into
// the side panel (GET /cases/{id}/flow/<node>/, funds/views/flow.py).
//
// Readable at a few hundred accounts: beyond COLLAPSE_AT nodes, the accounts of each layer
// that nothing was asked of yet (stage "identified", involved or seen in transfers only) are
// drawn as one group node per layer, with the group's edges summed; the victims and every
// account with a request stay drawn one by one. A click on a group lists its accounts.
(function () {
  "use strict";
  var COLLAPSE_AT = 150;
  var LABELS_UP_TO = 80;
  var COLUMN_GAP = 220;
  var ROW_GAP = 70;
  // One colour per stage, in the badges' spirit (static/css/app.css): amber asked, green
  // done, red failed or ended, grey nothing asked yet, blue the victims.
  var COLOURS = {
    victim: "#2f6fb3",
    identified: "#9aa4b1",
    stop_requested: "#d99a1e",
    stopped: "#3f9b5a",
    stop_failed: "#c8414b",
    lapsed: "#b5656b",
    freeze_requested: "#e0b300",
    frozen: "#1f7a3a",
    freeze_failed: "#a3222c",
    expired: "#8c4a50",
    released: "#6b7d99",
    returned: "#22a39a",
    group: "#c9ced6"
  };
  var STAGE_ORDER = ["identified", "stop_requested", "stopped", "stop_failed", "lapsed",
    "freeze_requested", "frozen", "freeze_failed", "expired", "released", "returned"];

  var box = document.getElementById("flow-graph");
  var panel = document.getElementById("flow-panel");
  var labelsNode = document.getElementById("flow-labels");
  if (!box || !panel || !labelsNode || !window.echarts) { return; }
  var labels = JSON.parse(labelsNode.textContent);
  var encode = window.echarts.format.encodeHTML;

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, key) { return String(values[key]); });
  }

  function yuan(amount) {
    var parts = Number(amount).toFixed(2).split(".");
    return "¥" + parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + parts[1];
  }

  function say(text) {
    panel.textContent = "";
    var p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    panel.appendChild(p);
  }

  // The column of each node: its layer; an account seen only in transfers one right of the
  // nearest layer that paid it, else right of every layer.
  function columns(nodes, edges) {
    var byId = {};
    var maxLayer = 0;
    nodes.forEach(function (n) {
      byId[n.id] = n;
      if (n.layer !== null && n.layer > maxLayer) { maxLayer = n.layer; }
    });
    var column = {};
    nodes.forEach(function (n) { if (n.layer !== null) { column[n.id] = n.layer; } });
    // A few passes settle chains of unlisted accounts (each takes its payer's column + 1).
    for (var pass = 0; pass < 4; pass += 1) {
      edges.forEach(function (e) {
        var target = byId[e.to];
        if (!target || target.layer !== null || column[e.from] === undefined) { return; }
        var candidate = column[e.from] + 1;
        if (column[e.to] === undefined || candidate < column[e.to]) { column[e.to] = candidate; }
      });
    }
    nodes.forEach(function (n) {
      if (column[n.id] === undefined) { column[n.id] = maxLayer + 1; }
    });
    return column;
  }

  // Beyond COLLAPSE_AT nodes: one group node per column for the accounts without requests.
  function collapse(nodes, edges, column) {
    if (nodes.length <= COLLAPSE_AT) { return { nodes: nodes, edges: edges, groups: {} }; }
    var groups = {};
    var into = {};
    var kept = [];
    nodes.forEach(function (n) {
      if (n.kind === "account" && n.stage === "identified") {
        var key = "g" + column[n.id];
        if (!groups[key]) {
          groups[key] = { id: key, kind: "group", members: [], layer: column[n.id] };
          column[key] = column[n.id];
        }
        groups[key].members.push(n);
        into[n.id] = key;
      } else {
        kept.push(n);
      }
    });
    Object.keys(groups).forEach(function (key) { kept.push(groups[key]); });
    var summed = {};
    edges.forEach(function (e) {
      var from = into[e.from] || e.from;
      var to = into[e.to] || e.to;
      if (from === to) { return; }
      var key = from + ">" + to;
      if (!summed[key]) { summed[key] = { from: from, to: to, amount: 0, count: 0 }; }
      summed[key].amount += Number(e.amount);
      summed[key].count += e.count;
    });
    return {
      nodes: kept,
      edges: Object.keys(summed).map(function (k) { return summed[k]; }),
      groups: groups
    };
  }

  function draw(graph) {
    var column = columns(graph.nodes, graph.edges);
    var shown = collapse(graph.nodes, graph.edges, column);
    if (shown.nodes.length === 0) { say(labels.empty); return; }
    var categories = [{ name: labels.victim, key: "victim" }];
    STAGE_ORDER.forEach(function (stage) {
      categories.push({ name: labels.stages[stage], key: stage });
    });
    var categoryOf = {};
    categories.forEach(function (c, i) {
      c.itemStyle = { color: COLOURS[c.key] };
      categoryOf[c.key] = i;
    });
    var received = {};
    var maxAmount = 0;
    shown.edges.forEach(function (e) {
      var amount = Number(e.amount);
      received[e.to] = (received[e.to] || 0) + amount;
      if (amount > maxAmount) { maxAmount = amount; }
    });
    // Within a column, the accounts that received most at the top.
    var perColumn = {};
    shown.nodes.forEach(function (n) {
      (perColumn[column[n.id]] = perColumn[column[n.id]] || []).push(n);
    });
    var position = {};
    Object.keys(perColumn).forEach(function (c) {
      var list = perColumn[c];
      list.sort(function (a, b) { return (received[b.id] || 0) - (received[a.id] || 0); });
      list.forEach(function (n, i) {
        position[n.id] = [Number(c) * COLUMN_GAP, (i - (list.length - 1) / 2) * ROW_GAP];
      });
    });
    var withLabels = shown.nodes.length <= LABELS_UP_TO;
    var data = shown.nodes.map(function (n) {
      var group = n.kind === "group";
      var name = group
        ? fill(labels.more, { count: n.members.length })
        : (n.kind === "victim" ? n.holder_name : n.institution + " " + n.number);
      return {
        id: n.id,
        name: name,
        x: position[n.id][0],
        y: position[n.id][1],
        category: group ? undefined : categoryOf[n.kind === "victim" ? "victim" : n.stage],
        symbol: group ? "roundRect" : (n.kind === "victim" ? "diamond" : "circle"),
        symbolSize: group ? 26 : 18,
        itemStyle: group ? { color: COLOURS.group, borderColor: "#6b7480" }
          : (n.involved || n.kind === "victim" ? undefined : { opacity: 0.6 }),
        label: { show: withLabels || group, position: "bottom", fontSize: 11 },
        node: n
      };
    });
    var links = shown.edges.map(function (e) {
      var amount = Number(e.amount);
      var share = maxAmount > 0 ? Math.sqrt(amount / maxAmount) : 0;
      return {
        source: e.from,
        target: e.to,
        value: amount,
        count: e.count,
        lineStyle: { width: 1 + 7 * share, opacity: 0.35 + 0.5 * share },
        label: { show: shown.edges.length <= LABELS_UP_TO, formatter: yuan(amount), fontSize: 10 }
      };
    });
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: {
        formatter: function (p) {
          if (p.dataType === "edge") {
            return encode(yuan(p.data.value)) + "<br>" + encode(fill(labels.transfers, { count: p.data.count }));
          }
          var n = p.data.node;
          if (n.kind === "group") { return encode(p.data.name); }
          var lines = [encode(n.institution + " " + n.number), encode(n.holder_name)];
          lines.push(encode(n.kind === "victim" ? labels.victim
            : (n.involved ? labels.stages[n.stage] : labels.unlisted)));
          if (n.layer) { lines.push(encode(fill(labels.layer, { layer: n.layer }))); }
          return lines.join("<br>");
        }
      },
      legend: [{ data: categories.map(function (c) { return c.name; }), type: "scroll", top: 0 }],
      series: [{
        type: "graph",
        layout: "none",
        roam: true,
        top: 40,
        categories: categories,
        data: data,
        links: links,
        edgeSymbol: ["none", "arrow"],
        edgeSymbolSize: 7,
        lineStyle: { color: "source", curveness: 0.12 },
        emphasis: { focus: "adjacency", lineStyle: { width: 6 } }
      }]
    });
    chart.on("click", function (p) {
      if (p.dataType !== "node") { return; }
      var n = p.data.node;
      if (n.kind === "group") { listGroup(n); } else { load(n.id); }
    });
    window.addEventListener("resize", function () { chart.resize(); });
    if (shown.nodes.length < graph.nodes.length) {
      say(fill(labels.collapsed, { count: graph.nodes.length }));
    }
    box.dataset.drawn = String(shown.nodes.length);
  }

  function listGroup(group) {
    panel.textContent = "";
    var h = document.createElement("h3");
    h.textContent = labels.groupTitle;
    panel.appendChild(h);
    var ul = document.createElement("ul");
    ul.className = "flow-list";
    group.members.slice(0, 200).forEach(function (n) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = n.institution + " " + n.number + " " + n.holder_name;
      button.addEventListener("click", function () { load(n.id); });
      li.appendChild(button);
      ul.appendChild(li);
    });
    panel.appendChild(ul);
  }

  function load(nodeId) {
    say(labels.loading);
    var url = box.dataset.nodeUrl.replace("NODE", encodeURIComponent(nodeId));
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        // Server-rendered by Django's templates (escaped), from this origin.
        panel.innerHTML = html;
        panel.dataset.node = nodeId;
      })
      .catch(function () { say(labels.failed); });
  }

  var initial = panel.textContent.trim();
  say(labels.loading);
  fetch(box.dataset.graphUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    })
    .then(function (graph) {
      say(initial);
      draw(graph);
    })
    .catch(function () { say(labels.failed); });
})();
