/*
 * Live progress for one import job (templates/dataset/import_detail.html).
 *
 * The page hands over everything in data-* attributes on #import-progress:
 *   data-url      the JSON endpoint (dataset:api_import) for this job
 *   data-status   the status the page was rendered with
 *   data-interval polling period in milliseconds (default 1000)
 * Polls once a second while the job is queued or running, updates the bar, the
 * phase and done/total, and reloads the page once when the job finishes so the
 * server renders the counts or the error.
 */
(function () {
  "use strict";

  var box = document.getElementById("import-progress");
  if (!box) {
    return;
  }
  var url = box.dataset.url;
  var interval = parseInt(box.dataset.interval || "1000", 10);
  var finished = ["succeeded", "failed"];
  var bar = box.querySelector("progress");
  var phase = box.querySelector("[data-field=phase]");
  var done = box.querySelector("[data-field=done]");
  var total = box.querySelector("[data-field=total]");
  var percent = box.querySelector("[data-field=percent]");
  var status = document.querySelector("[data-field=status]");
  var timer = null;

  function render(job) {
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    if (phase) { phase.textContent = job.phase || ""; }
    if (done) { done.textContent = job.progress_done; }
    if (total) { total.textContent = job.progress_total; }
    if (percent) { percent.textContent = job.percent; }
    if (status) { status.textContent = job.status_display || job.status; }
  }

  function stop() {
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          // Logged out or the job is gone: polling again will not help.
          stop();
          return null;
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
        if (job.finished || finished.indexOf(job.status) !== -1) {
          stop();
          // The server renders the counts or the error; reload once to show them.
          window.location.reload();
          return;
        }
        timer = window.setTimeout(poll, interval);
      })
      .catch(function () {
        // A dropped request is not the end of the job: try again, a little slower.
        timer = window.setTimeout(poll, interval * 3);
      });
  }

  if (finished.indexOf(box.dataset.status) === -1) {
    timer = window.setTimeout(poll, interval);
  }
})();
