// The zoo page's table: click a header to sort (numbers as numbers, '-' always last; again to
// reverse), type in the filter to keep the rows that contain every word. No dependencies.
(function () {
  "use strict";

  function cellKey(text) {
    var t = text.trim();
    if (t === "" || t === "-") return null;
    var m = t.match(/^-?\d+(\.\d+)?/);
    return m ? { num: parseFloat(m[0]), text: t.toLowerCase() } : { num: null, text: t.toLowerCase() };
  }

  function compare(a, b, numeric) {
    if (numeric) {
      if (a.num !== b.num) return a.num - b.num;
      return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
    }
    return natural(a.text, b.text);
  }

  // text with its numbers compared as numbers ("r50" before "r101"), otherwise by code point
  function chunks(text) {
    return (text.match(/\d+|\D+/g) || []).map(function (c) {
      return /^\d/.test(c) ? [0, parseInt(c, 10)] : [1, c];
    });
  }

  function natural(a, b) {
    var x = chunks(a), y = chunks(b);
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i][0] !== y[i][0]) return x[i][0] - y[i][0];
      if (x[i][1] !== y[i][1]) return x[i][1] < y[i][1] ? -1 : 1;
    }
    return x.length - y.length;
  }

  function sortBy(table, th, col) {
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var keys = rows.map(function (r) { return cellKey(r.cells[col] ? r.cells[col].textContent : ""); });
    var present = keys.filter(function (k) { return k !== null; });
    var numeric = present.length > 0 && present.every(function (k) { return k.num !== null; });
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var order = rows.map(function (r, i) { return i; });
    order.sort(function (i, j) {
      var a = keys[i], b = keys[j];
      if (a === null && b === null) return i - j;
      if (a === null) return 1;   // missing values last, either direction
      if (b === null) return -1;
      return dir * compare(a, b, numeric) || i - j;
    });
    order.forEach(function (i) { tbody.appendChild(rows[i]); });
  }

  function filter(table, query, count) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0, rows = table.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (r) {
      var text = r.textContent.toLowerCase();
      var keep = words.every(function (w) { return text.indexOf(w) !== -1; });
      r.hidden = !keep;
      if (keep) shown++;
    });
    if (count) count.textContent = shown + " of " + rows.length + " entries";
  }

  function init() {
    var table = document.querySelector(".zoo-table table");
    if (!table || table.dataset.zooReady) return;
    table.dataset.zooReady = "1";
    table.classList.add("zoo-sortable");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.setAttribute("role", "columnheader");
      th.title = "Sort by " + th.textContent.trim();
      th.addEventListener("click", function () { sortBy(table, th, col); });
    });
    var input = document.getElementById("zoo-filter");
    var count = document.getElementById("zoo-count");
    if (input) {
      input.addEventListener("input", function () { filter(table, input.value, count); });
      filter(table, input.value, count);
    }
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
