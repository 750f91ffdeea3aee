/*
 * Live progress of one competitor fetch job (templates/sources/job_detail.html).
 *
 * Everything comes in data-* attributes on #fetch-progress:
 *   data-url      the JSON endpoint (sources:api_job) for this job
 *   data-status   the status the page was rendered with
 *   data-interval polling period in milliseconds (default 1000)
 * Polls while the job is queued or running and updates the bar, done/total, the status,
 * the counts table and the job's message in place: the page is never reloaded.
 */
(function () {
  "use strict";

  var box = document.getElementById("fetch-progress");
  if (!box) {
    return;
  }
  var url = box.dataset.url;
  var interval = parseInt(box.dataset.interval || "1000", 10);
  var finished = ["succeeded", "failed", "paused"];
  var bar = box.querySelector("progress");
  var timer = null;

  function field(name) {
    return document.querySelector("[data-field=" + name + "]");
  }

  function setText(name, value) {
    var node = field(name);
    if (node) {
      node.textContent = value === null || value === undefined ? "" : String(value);
    }
  }

  function renderCounts(rows) {
    var body = field("counts");
    if (!body) {
      return;
    }
    while (body.firstChild) {
      body.removeChild(body.firstChild);
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = row.label;
      var td = document.createElement("td");
      td.dataset.count = row.name;
      td.textContent = row.value;
      tr.appendChild(th);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  function render(job) {
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    setText("done", job.progress_done);
    setText("total", job.progress_total);
    setText("percent", job.percent);
    setText("phase", job.phase);
    setText("status", job.status_display || job.status);
    setText("message", job.message);
    var status = field("status");
    if (status) {
      status.className = "badge" + (job.status === "succeeded" ? " ok" : (job.status === "failed" || job.status === "paused") ? " bad" : "");
    }
    var message = field("message");
    if (message) {
      message.className = (job.status === "failed" || job.status === "paused") ? "error" : "";
    }
    renderCounts(job.count_rows || []);
    box.dataset.status = job.status;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          return null; // logged out or gone: asking again will not help
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (job) {
        if (job === null) {
          return;
        }
        render(job);
        if (!job.finished && finished.indexOf(job.status) === -1) {
          timer = window.setTimeout(poll, interval);
        }
      })
      .catch(function () {
        timer = window.setTimeout(poll, interval * 3); // a dropped request is not the end of the job
      });
  }

  if (finished.indexOf(box.dataset.status) === -1) {
    timer = window.setTimeout(poll, interval);
  }
})();
