/*
 * The image page of the review (templates/cleaning/review_image.html): search a label by its
 * English or Chinese name (taxonomy API) and mark it present on this image; Esc goes back.
 */
(function () {
  "use strict";

  var box = document.getElementById("label-add");
  var script = document.getElementById("review-image-script");
  var back = script ? script.dataset.back : "";
  document.addEventListener("keydown", function (event) {
    var tag = event.target && event.target.tagName;
    if (event.key === "Escape" && tag !== "INPUT" && back) { window.location.href = back; }
  });
  if (!box) {
    return;
  }
  var input = box.querySelector("input");
  var results = box.querySelector("[data-testid=label-results]");
  var status = box.querySelector("[data-testid=label-add-status]");
  var t = box.dataset;
  var timer = null;

  var csrf = window.LabelLoop.csrf;  // static/js/api.js

  function add(label) {
    fetch(t.addUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ label: label.key })
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) {
        status.textContent = t.tError + " " + (result.data.detail || JSON.stringify(result.data));
        return;
      }
      var text = t.tAdded + " " + label.name_en + (label.name_zh ? " / " + label.name_zh : "");
      if (result.data.conflicts && result.data.conflicts.length) {
        text += ". " + t.tExcluded + " " + result.data.conflicts.join(", ");
      } else if (result.data.second_opinion) {
        text += ". " + t.tSecond;
      }
      status.textContent = text;
      window.setTimeout(function () { window.location.reload(); }, 900);
    });
  }

  function search() {
    var q = input.value.trim();
    if (!q) { results.textContent = ""; return; }
    fetch(t.searchUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (labels) {
        results.textContent = "";
        labels.filter(function (label) { return label.is_active; }).slice(0, 12).forEach(function (label) {
          var li = document.createElement("li");
          var button = document.createElement("button");
          button.type = "button";
          button.dataset.key = label.key;
          button.textContent = label.name_en + (label.name_zh ? " / " + label.name_zh : "") + " (" + label.key + ")";
          button.addEventListener("click", function () { add(label); });
          li.appendChild(button);
          results.appendChild(li);
        });
      });
  }

  input.addEventListener("input", function () {
    if (timer !== null) { window.clearTimeout(timer); }
    timer = window.setTimeout(search, 150);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      var first = results.querySelector("button");
      if (first) { event.preventDefault(); first.click(); }
    } else if (event.key === "Escape") {
      input.blur();
    }
  });
}());
