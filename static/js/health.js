/*
 * Label health page (templates/cleaning/health.html).
 *
 * Sorting: every <th data-sort="number|text" data-col="NAME"> sorts the rows of
 * #health-table by the row attribute data-NAME (numbers: -1 stands for "—" and sorts
 * last); a second click reverses. The header's aria-sort says the current order.
 * Thumbnails (admins): #thumbnail-job[data-url] is polled every 2 s while its state is
 * "running", updating the bar and the counts in [data-field] elements.
 */
(function () {
  "use strict";

  var table = document.getElementById("health-table");
  if (table) {
    var headers = table.querySelectorAll("th[data-sort]");
    var body = table.tBodies[0];

    var sortBy = function (th, descending) {
      var col = th.dataset.col;
      var numeric = th.dataset.sort === "number";
      var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-label]"));
      rows.sort(function (a, b) {
        var x = a.getAttribute("data-" + col);
        var y = b.getAttribute("data-" + col);
        var order;
        if (numeric) {
          x = parseFloat(x);
          y = parseFloat(y);
          // "—" (-1) sorts last whichever the direction
          if (x < 0 && y >= 0) { return 1; }
          if (y < 0 && x >= 0) { return -1; }
          order = x - y;
        } else {
          order = x.localeCompare(y);
        }
        if (order === 0) {
          order = a.dataset.label.localeCompare(b.dataset.label);
          return order;
        }
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    };

    headers.forEach(function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        // numbers first sort biggest first, text A→Z; a second click reverses
        var descending = current ? current === "ascending" : th.dataset.sort === "number";
        sortBy(th, descending);
      });
    });
  }

  var job = document.getElementById("thumbnail-job");
  if (job && job.dataset.state === "running") {
    var timer = window.setInterval(function () {
      fetch(job.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (p) {
          if (!p) { return; }
          job.querySelector("progress").value = p.percent;
          ["done", "total", "made", "skipped", "failed"].forEach(function (name) {
            var el = job.querySelector("[data-field=" + name + "]");
            if (el) { el.textContent = p[name]; }
          });
          if (p.state !== "running") { window.clearInterval(timer); }
        });
    }, 2000);
  }
})();
