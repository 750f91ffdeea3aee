/*
 * Live progress of one modeling job (templates/modeling/job_detail.html).
 *
 * #job-progress hands over data-url (modeling:api_job), data-status and data-interval.
 * Polls while the job is queued or running: the bar, phase, epoch / step, loss, lr,
 * images/s, time left, device and the log tail; reloads once when the job finishes so
 * the server renders the outcome (new version, counts, error).
 */
(function () {
  "use strict";

  var box = document.getElementById("job-progress");
  if (!box) {
    return;
  }
  var url = box.dataset.url;
  var interval = parseInt(box.dataset.interval || "1000", 10);
  var finished = ["succeeded", "failed", "cancelled"];
  var bar = box.querySelector("progress");
  var timer = null;

  function field(name) {
    return document.querySelector("[data-field=" + name + "]");
  }

  function set(name, value) {
    var node = field(name);
    if (node) {
      node.textContent = value === null || value === undefined || value === "" ? "—" : value;
    }
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return "—";
    }
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var rest = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function number(value, digits) {
    return value === null || value === undefined ? null : Number(value).toFixed(digits);
  }

  function render(job) {
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    set("percent", job.percent);
    set("phase", job.phase);
    set("epoch", job.epoch);
    set("epochs", job.epochs);
    set("step", job.step);
    set("steps_total", job.steps_total);
    set("progress_done", job.progress_done);
    set("progress_total", job.progress_total);
    set("loss", number(job.loss, 4));
    set("lr", job.lr === null ? null : Number(job.lr).toPrecision(3));
    set("images_per_s", number(job.images_per_s, 1));
    set("eta", job.status === "running" ? duration(job.eta_s) : "—");
    set("status", job.status_display || job.status);
    set("device", job.device);
    var note = field("cpu-note");
    if (note) {
      // Only when the worker chose the CPU for lack of a GPU, not when the configuration asked for it.
      note.hidden = job.device !== "cpu" || note.dataset.requested === "cpu";
    }
    var log = field("log_tail");
    if (log && log.textContent !== job.log_tail) {
      log.textContent = job.log_tail;
      log.scrollTop = log.scrollHeight;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
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
        if (finished.indexOf(job.status) !== -1) {
          window.location.reload();
          return;
        }
        timer = window.setTimeout(poll, interval);
      })
      .catch(function () {
        timer = window.setTimeout(poll, interval * 3);
      });
  }

  var eta = field("eta");
  if (finished.indexOf(box.dataset.status) === -1) {
    timer = window.setTimeout(poll, 200);
  } else if (eta) {
    eta.textContent = "—";
  }
})();
